"""Logging setup. Log lines carry ids, never tokens, secrets or the text of a post."""

from __future__ import annotations

import logging
import re

# Token shapes the product handles: Slack tokens, and long opaque strings such as LinkedIn's
# ~500-character access tokens. A log line that somehow carries one is masked, as a last line
# of defence; code must still never pass a token to a logger.
_SECRET_PATTERNS = [
    re.compile(r"xox[abepr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:access|refresh)_token['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+"),
    re.compile(r"(?i)((?:client_secret|token|code)=)[^\s&]+"),
]


def redact(message: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            message = pattern.sub(lambda m: m.group(1) + "[redacted]", message)
        else:
            message = pattern.sub("[redacted]", message)
    return message


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rendered = record.getMessage()
        cleaned = redact(rendered)
        if cleaned != rendered:
            record.msg, record.args = cleaned, ()
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # urllib3 logs full request URLs at DEBUG, which may carry OAuth codes.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))
    # Alembic lists each of its plugins at INFO on every start; the migrations it runs are
    # logged by alembic.runtime.migration, which stays.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, root.level))
    # APScheduler logs two lines per job run at INFO, and the publisher runs every second;
    # the jobs log what they did themselves. Misfires and errors are warnings and stay.
    logging.getLogger("apscheduler.executors").setLevel(max(logging.WARNING, root.level))
