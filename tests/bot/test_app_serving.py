"""Serving: bot.wsgi's settings check, `companycore run` and gunicorn with the Procfile's options."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.app import BOT_SCOPES
from tests.bot.app_helpers import harness_environ
from tests.fakes.linkedin_server import FakeLinkedIn
from tests.fakes.slack_server import FakeSlack

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "VIRTUAL_ENV")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_wsgi_settings_error_exits_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import bot.wsgi"],
        cwd=tmp_path,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "TOKEN_ENCRYPTION_KEY" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def fakes():
    with FakeSlack() as fake_slack, FakeLinkedIn() as fake_linkedin:
        yield fake_slack, fake_linkedin


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 20) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else "process exited"
        try:
            return requests.get(url, timeout=1)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def start(command: list[str], tmp_path, fakes) -> tuple[subprocess.Popen, int]:
    fake_slack, fake_linkedin = fakes
    port = free_port()
    env = base_env() | harness_environ(fake_slack, fake_linkedin, None, database_url=f"sqlite:///{tmp_path / 'run.db'}")
    env |= {"PORT": str(port), "HOST": "127.0.0.1"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, port


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()


def test_run_serves_and_stops_on_sigterm(tmp_path, fakes):
    process, port = start([sys.executable, "-m", "bot", "run"], tmp_path, fakes)
    try:
        health = wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert health.status_code == 200
        page = requests.get(f"http://127.0.0.1:{port}/linkedin-integration", timeout=5)
        assert "w_member_social" in page.text
    finally:
        code = stop(process)
    assert code == 0


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn is not installed")
def test_gunicorn_with_procfile_options(tmp_path, fakes):
    procfile = (ROOT / "Procfile").read_text()
    web = re.search(r"^web: (.+)$", procfile, re.MULTILINE).group(1)
    arguments = [part.strip("'") for part in web.split()]
    fake_slack, fake_linkedin = fakes
    port = free_port()
    arguments = [argument.replace("$PORT", str(port)).replace("0.0.0.0", "127.0.0.1") for argument in arguments]
    env = base_env() | harness_environ(fake_slack, fake_linkedin, None, database_url=f"sqlite:///{tmp_path / 'web.db'}")
    process = subprocess.Popen(arguments, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert health.status_code == 200
    finally:
        stop(process)
    # The web workers leave durable tasks to the worker process.
    assert "task runner started" not in process.stderr.read()


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn is not installed")
def test_gunicorn_settings_error_stops_master(tmp_path):
    result = subprocess.run(
        ["gunicorn", "bot.wsgi:application", "--config", "python:bot.gunicorn_conf", "--bind", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "TOKEN_ENCRYPTION_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_manifest_scopes_match_app():
    manifest = (ROOT / "manifest.yml").read_text()
    bot_scopes = re.search(r"    bot:\n((?:      - .+\n)+)", manifest).group(1)
    assert [line.strip()[2:] for line in bot_scopes.splitlines()] == BOT_SCOPES
    for event in ("app_home_opened", "message.im", "app_uninstalled", "tokens_revoked", "assistant_thread_started"):
        assert f"- {event}\n" in manifest
    assert "callback_id: draft_from_message" in manifest
