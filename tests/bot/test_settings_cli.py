"""Settings validation and the command line, run as a user runs them."""

import os
import subprocess
import sys

import pytest

from bot.settings import SettingsError, load_settings, normalize_database_url
from storage.vault import generate_key

KEY = "q5w1mXz0bJ0cS7k0yVb0pGj3sYwq8s8u0hH2Yk6o9dE="


def settings_from(**env):
    return load_settings(environ=env, dotenv_path=None)


def run_cli(*args, env=None, cwd):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LINKEDIN_", "TOKEN_", "OPENAI_", "DATABASE_"))}
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=clean, cwd=cwd, timeout=60)


def test_defaults_apply():
    settings = settings_from()
    assert settings.database_url == "sqlite:///companycore.db"
    assert settings.public_url == "http://localhost:3000"
    assert settings.grace_minutes == 60


def test_postgres_urls_use_psycopg():
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_both_slack_modes_rejected():
    settings = settings_from(SLACK_BOT_TOKEN="xoxb-1", SLACK_CLIENT_ID="1.2", SLACK_CLIENT_SECRET="s", SLACK_SIGNING_SECRET="x")
    with pytest.raises(SettingsError) as raised:
        settings.validate("slack")
    assert "SLACK_CLIENT_ID" in raised.value.problems
    assert "xoxb-1" not in str(raised.value)


def test_every_bad_variable_listed_once():
    settings = settings_from(TOKEN_ENCRYPTION_KEY="short", PORT="http", LINKEDIN_VERSION="2024-01")
    with pytest.raises(SettingsError) as raised:
        settings.validate("vault", "http", "slack", "linkedin")
    problems = raised.value.problems
    for name in ("TOKEN_ENCRYPTION_KEY", "PORT", "SLACK_BOT_TOKEN", "LINKEDIN_CLIENT_ID", "LINKEDIN_VERSION"):
        assert name in problems
    assert "short" not in str(raised.value)


def test_secrets_not_in_repr():
    settings = settings_from(TOKEN_ENCRYPTION_KEY=KEY, SLACK_BOT_TOKEN="xoxb-secret-value", LINKEDIN_CLIENT_SECRET="li-secret")
    text = repr(settings)
    assert KEY not in text and "xoxb-secret-value" not in text and "li-secret" not in text


def test_dotenv_file_read_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=4000\nHOST=0.0.0.0\n")
    settings = load_settings(environ={"PORT": "5000"}, dotenv_path=dotenv)
    assert settings.port == "5000"
    assert settings.host == "0.0.0.0"


def test_url_safe_and_standard_keys_accepted():
    raw = generate_key()
    import base64

    for encoded in (base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode()):
        assert settings_from(TOKEN_ENCRYPTION_KEY=encoded).encryption_key == raw


@pytest.mark.parametrize("key", [None, "c2hvcnQ="])
def test_rotate_key_without_valid_key_exits_cleanly(tmp_path, key):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    if key:
        env["TOKEN_ENCRYPTION_KEY"] = key
    result = run_cli("rotate-key", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "TOKEN_ENCRYPTION_KEY" in result.stderr
    assert "companycore keygen" in result.stderr
    assert "Traceback" not in result.stderr


def test_keygen_needs_no_settings(tmp_path):
    result = run_cli("keygen", cwd=tmp_path)
    assert result.returncode == 0
    assert settings_from(TOKEN_ENCRYPTION_KEY=result.stdout.strip()).encryption_key


def test_migrate_then_rotate_key(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "TOKEN_ENCRYPTION_KEY": KEY}
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    result = run_cli("rotate-key", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Re-encrypted 0" in result.stdout
