"""Configuration read from the environment and from a `.env` file in the working directory.

Every variable the product reads is declared once in `VARIABLES`, with its purpose and how
to set it, so that a validation error can name each bad variable and its fix. Secrets are
never part of a message, a repr or a log line.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_LINKEDIN_VERSION = "202611"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Variable:
    name: str
    purpose: str
    how_to_set: str
    default: str = ""
    secret: bool = False


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in [
        Variable("DATABASE_URL", "the database", "a SQLAlchemy URL such as sqlite:///companycore.db or postgresql://user@host/db", "sqlite:///companycore.db", secret=True),
        Variable("TOKEN_ENCRYPTION_KEY", "the AES-256-GCM key that encrypts stored tokens", "the value that `companycore keygen` prints", secret=True),
        Variable("TOKEN_ENCRYPTION_OLD_KEYS", "older keys that may still decrypt stored tokens during a rotation", "a comma-separated list of earlier TOKEN_ENCRYPTION_KEY values", secret=True),
        Variable("PUBLIC_URL", "the app's public base URL, used in link buttons and LinkedIn's redirect URI", "an http(s) URL without a trailing path, such as https://companycore.example.com", "http://localhost:3000"),
        Variable("PORT", "the HTTP port", "a number from 1 to 65535", "3000"),
        Variable("HOST", "the HTTP listen address", "an IP address or host name", "127.0.0.1"),
        Variable("SLACK_BOT_TOKEN", "the bot token of a single-workspace install", "the xoxb- token from the Slack app's OAuth & Permissions page", secret=True),
        Variable("SLACK_SIGNING_SECRET", "the secret that verifies requests from Slack", "the Signing Secret from the Slack app's Basic Information page", secret=True),
        Variable("SLACK_APP_TOKEN", "the app-level token for Socket Mode", "an xapp- token with connections:write from Basic Information", secret=True),
        Variable("SLACK_CLIENT_ID", "the client ID for multi-workspace installs", "the Client ID from Basic Information"),
        Variable("SLACK_CLIENT_SECRET", "the client secret for multi-workspace installs", "the Client Secret from Basic Information", secret=True),
        Variable("SLACK_API_URL", "the Slack Web API base URL", "a URL ending in /", "https://slack.com/api/"),
        Variable("LINKEDIN_CLIENT_ID", "the LinkedIn app's client ID", "the Client ID from the LinkedIn developer app's Auth tab"),
        Variable("LINKEDIN_CLIENT_SECRET", "the LinkedIn app's client secret", "the Primary Client Secret from the LinkedIn developer app's Auth tab", secret=True),
        Variable("LINKEDIN_OAUTH_URL", "LinkedIn's OAuth base URL", "a URL", "https://www.linkedin.com/oauth/v2"),
        Variable("LINKEDIN_API_URL", "LinkedIn's API base URL", "a URL", "https://api.linkedin.com"),
        Variable("LINKEDIN_VERSION", "the LinkedIn-Version header of versioned API calls", "YYYYMM or YYYYMM.RR, a version LinkedIn still supports", DEFAULT_LINKEDIN_VERSION),
        Variable("OPENAI_API_KEY", "the key of the AI drafting model's API", "an API key of OpenAI or of an OpenAI-compatible server", secret=True),
        Variable("OPENAI_BASE_URL", "the base URL of the AI model's API", "a URL such as https://api.openai.com/v1"),
        Variable("OPENAI_MODEL", "the model that drafts posts", "a chat model name", DEFAULT_OPENAI_MODEL),
        Variable("PUBLISH_GRACE_MINUTES", "how late a missed post may still go out without asking its owner", "a whole number of minutes, 0 or more", "60"),
        Variable("RECONNECT_REMINDER_DAYS", "how many days before a LinkedIn token expires its owner is reminded", "a whole number of days, 0 or more", "7"),
        Variable("LOG_LEVEL", "the logging level", "DEBUG, INFO, WARNING or ERROR", "INFO"),
    ]
}

_VERSION_PATTERN = re.compile(r"^\d{6}(\.\d{2})?$")


class SettingsError(Exception):
    """Raised when required settings are missing or invalid; `problems` maps names to reasons."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = ["companycore cannot start because of its configuration:"]
        for name, reason in self.problems.items():
            variable = VARIABLES.get(name)
            lines.append(f"  {name}: {reason}")
            if variable is not None:
                lines.append(f"    It is {variable.purpose}. To fix it, set it to {variable.how_to_set}.")
        lines.append("Set these in the environment or in a .env file in the working directory.")
        return "\n".join(lines)


def decode_key(value: str) -> bytes:
    """Decode a base64 key (standard or URL-safe) and check that it is 32 bytes long."""
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("is not valid base64") from error
    if len(raw) != 32:
        raise ValueError(f"decodes to {len(raw)} bytes, but AES-256 needs 32")
    return raw


def normalize_database_url(url: str) -> str:
    """Make `postgres://` and `postgresql://` URLs use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    """The product's configuration. Secret fields are left out of the repr."""

    database_url: str = field(repr=False)
    token_encryption_key: str = field(repr=False)
    token_encryption_old_keys: str = field(repr=False)
    public_url: str
    port: str
    host: str
    slack_bot_token: str = field(repr=False)
    slack_signing_secret: str = field(repr=False)
    slack_app_token: str = field(repr=False)
    slack_client_id: str
    slack_client_secret: str = field(repr=False)
    slack_api_url: str
    linkedin_client_id: str
    linkedin_client_secret: str = field(repr=False)
    linkedin_oauth_url: str
    linkedin_api_url: str
    linkedin_version: str
    openai_api_key: str = field(repr=False)
    openai_base_url: str
    openai_model: str
    publish_grace_minutes: str
    reconnect_reminder_days: str
    log_level: str

    # Typed views of the raw strings. Call `validate` first; these assume valid values.
    @property
    def sqlalchemy_url(self) -> str:
        return normalize_database_url(self.database_url)

    @property
    def encryption_key(self) -> bytes:
        return decode_key(self.token_encryption_key)

    @property
    def old_encryption_keys(self) -> list[bytes]:
        return [decode_key(k) for k in self.token_encryption_old_keys.split(",") if k.strip()]

    @property
    def http_port(self) -> int:
        return int(self.port)

    @property
    def grace_minutes(self) -> int:
        return int(self.publish_grace_minutes)

    @property
    def reminder_days(self) -> int:
        return int(self.reconnect_reminder_days)

    @property
    def slack_api_base(self) -> str:
        return self.slack_api_url if self.slack_api_url.endswith("/") else self.slack_api_url + "/"

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def linkedin_redirect_uri(self) -> str:
        return f"{self.public_base}/linkedin/callback"

    @property
    def multi_workspace(self) -> bool:
        return bool(self.slack_client_id)

    @property
    def ai_enabled(self) -> bool:
        return bool(self.openai_api_key)

    def validate(self, *needs: str) -> None:
        """Raise SettingsError listing every problem among the groups in `needs`.

        Groups: "database", "vault", "http", "slack", "linkedin", "publisher".
        """
        problems: dict[str, str] = {}
        wanted = set(needs)
        if "database" in wanted:
            self._check_database(problems)
        if "vault" in wanted:
            self._check_vault(problems)
        if "http" in wanted:
            self._check_http(problems)
        if "slack" in wanted:
            self._check_slack(problems)
        if "linkedin" in wanted:
            self._check_linkedin(problems)
        if "publisher" in wanted:
            self._check_publisher(problems)
        self._check_common(problems)
        if problems:
            raise SettingsError(problems)

    def _check_common(self, problems: dict[str, str]) -> None:
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            problems["LOG_LEVEL"] = f"{self.log_level!r} is not a logging level"

    def _check_database(self, problems: dict[str, str]) -> None:
        url = self.database_url
        if not url:
            problems["DATABASE_URL"] = "is empty"
        elif not re.match(r"^(sqlite|postgres|postgresql)(\+\w+)?://", url):
            problems["DATABASE_URL"] = "must start with sqlite://, postgres:// or postgresql://"

    def _check_vault(self, problems: dict[str, str]) -> None:
        if not self.token_encryption_key:
            problems["TOKEN_ENCRYPTION_KEY"] = "is missing"
        else:
            try:
                decode_key(self.token_encryption_key)
            except ValueError as error:
                problems["TOKEN_ENCRYPTION_KEY"] = f"is invalid: it {error}"
        for position, key in enumerate(self.token_encryption_old_keys.split(","), start=1):
            if not key.strip():
                continue
            try:
                decode_key(key)
            except ValueError as error:
                problems["TOKEN_ENCRYPTION_OLD_KEYS"] = f"key number {position} {error}"

    def _check_http(self, problems: dict[str, str]) -> None:
        if not self.port.isdigit() or not 0 < int(self.port) < 65536:
            problems["PORT"] = f"{self.port!r} is not a port number"
        if not re.match(r"^https?://[^/\s]+", self.public_url):
            problems["PUBLIC_URL"] = f"{self.public_url!r} is not an http(s) URL"

    def _check_slack(self, problems: dict[str, str]) -> None:
        if self.slack_bot_token and self.slack_client_id:
            problems["SLACK_CLIENT_ID"] = (
                "is set together with SLACK_BOT_TOKEN; set SLACK_BOT_TOKEN for one workspace "
                "or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for many, not both"
            )
        elif not self.slack_bot_token and not self.slack_client_id:
            problems["SLACK_BOT_TOKEN"] = "is missing (or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)"
        if self.slack_client_id and not self.slack_client_secret:
            problems["SLACK_CLIENT_SECRET"] = "is missing while SLACK_CLIENT_ID is set"
        if not self.slack_signing_secret and not self.slack_app_token:
            problems["SLACK_SIGNING_SECRET"] = "is missing"
        if not re.match(r"^https?://", self.slack_api_url):
            problems["SLACK_API_URL"] = f"{self.slack_api_url!r} is not an http(s) URL"

    def _check_linkedin(self, problems: dict[str, str]) -> None:
        if not self.linkedin_client_id:
            problems["LINKEDIN_CLIENT_ID"] = "is missing"
        if not self.linkedin_client_secret:
            problems["LINKEDIN_CLIENT_SECRET"] = "is missing"
        if not _VERSION_PATTERN.match(self.linkedin_version):
            problems["LINKEDIN_VERSION"] = f"{self.linkedin_version!r} is not YYYYMM or YYYYMM.RR"
        for name, url in (("LINKEDIN_OAUTH_URL", self.linkedin_oauth_url), ("LINKEDIN_API_URL", self.linkedin_api_url)):
            if not re.match(r"^https?://", url):
                problems[name] = f"{url!r} is not an http(s) URL"

    def _check_publisher(self, problems: dict[str, str]) -> None:
        if not self.publish_grace_minutes.isdigit():
            problems["PUBLISH_GRACE_MINUTES"] = f"{self.publish_grace_minutes!r} is not a whole number"
        if not self.reconnect_reminder_days.isdigit():
            problems["RECONNECT_REMINDER_DAYS"] = f"{self.reconnect_reminder_days!r} is not a whole number"


def load_settings(environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env") -> Settings:
    """Read settings from `environ` (default: os.environ), with `.env` values underneath.

    Variables set in the environment win over the `.env` file.
    """
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    values = {}
    for item in fields(Settings):
        variable = VARIABLES[item.name.upper()]
        values[item.name] = merged.get(variable.name, "").strip() or variable.default
    return Settings(**values)
