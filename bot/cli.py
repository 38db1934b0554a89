"""The `companycore` command line.

Each command validates the settings it needs and, when any is missing or invalid, exits
with status 2 and one message listing every bad variable and its fix, without a traceback.
"""

from __future__ import annotations

import argparse
import base64
import logging
import sys

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

# The settings groups each command needs (see Settings.validate).
NEEDS = {
    "run": ("database", "vault", "http", "slack", "linkedin", "publisher"),
    "web": ("database", "vault", "http", "slack", "linkedin", "publisher"),
    "worker": ("database", "vault", "http", "slack", "linkedin", "publisher"),
    "migrate": ("database",),
    "rotate-key": ("database", "vault"),
    "keygen": (),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="companycore",
        description="Write, approve and schedule LinkedIn posts from Slack.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("run", help="run everything in one process: HTTP (or Socket Mode) and the publisher")
    commands.add_parser("web", help="serve HTTP with gunicorn, as the Procfile's web process does")
    worker = commands.add_parser("worker", help="run the publisher and reminders on a schedule")
    worker.add_argument("--once", action="store_true", help="run one pass and exit, for cron-only platforms")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("keygen", help="print a new TOKEN_ENCRYPTION_KEY")
    commands.add_parser("rotate-key", help="re-encrypt every stored token with the current TOKEN_ENCRYPTION_KEY")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keygen":
        return keygen()

    settings = load_settings()
    try:
        settings.validate(*NEEDS[args.command])
    except SettingsError as error:
        print(error.render(), file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    if args.command == "migrate":
        return migrate(settings)
    if args.command == "rotate-key":
        return rotate_key(settings)
    if args.command == "run":
        from bot.serve import run_all

        return run_all(settings)
    if args.command == "web":
        from bot.serve import run_web

        return run_web(settings)
    if args.command == "worker":
        from bot.worker import run_worker

        return run_worker(settings, once=args.once)
    raise AssertionError(f"unhandled command {args.command}")


def keygen() -> int:
    from storage.vault import generate_key

    print(base64.urlsafe_b64encode(generate_key()).decode())
    return 0


def migrate(settings: Settings) -> int:
    from storage.db import make_engine
    from storage.db import migrate as apply_migrations

    apply_migrations(make_engine(settings.sqlalchemy_url))
    print("The database schema is up to date.")
    return 0


def rotate_key(settings: Settings) -> int:
    from bot.context import build_services
    from storage.db import transaction
    from storage.rotation import rotate_all
    from storage.vault import VaultError

    services = build_services(settings)
    if services.engine.dialect.name == "sqlite":
        from storage.db import migrate as apply_migrations

        apply_migrations(services.engine)
    try:
        with transaction(services.sessions) as session:
            count = rotate_all(session, services.vault)
    except VaultError as error:
        print(f"Key rotation stopped and changed nothing: {error}", file=sys.stderr)
        return 1
    print(f"Re-encrypted {count} stored token(s) with the current key.")
    if settings.token_encryption_old_keys:
        print("Every token now uses the current key; you may remove TOKEN_ENCRYPTION_OLD_KEYS.")
    return 0
