"""The WSGI entry point for gunicorn: `gunicorn 'bot.wsgi:application'`.

Importing this module reads and validates the settings, migrates a SQLite database, and
builds the services and the app. With invalid settings it prints the settings message to
stderr and exits with status 2, without a traceback.

The web processes run no durable tasks: listeners store them and acknowledge Slack, and
`companycore worker` runs them, so the work after one request never slows down the
acknowledgement of the next.
"""

from __future__ import annotations

import logging
import sys

from bot.cli import NEEDS
from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings

logger = logging.getLogger(__name__)


def load_validated_settings():
    """Return the validated settings of the web process, or exit with status 2."""
    settings = load_settings()
    try:
        settings.validate(*NEEDS["web"])
    except SettingsError as error:
        print(error.render(), file=sys.stderr)
        raise SystemExit(2) from None
    return settings


def build_application(settings):
    """Build the services and the WSGI app for `settings`. Return (services, application)."""
    from bot.app import build_app, build_services_for_app
    from bot.web import create_wsgi_app
    from storage.db import migrate

    services = build_services_for_app(settings)
    if services.engine.dialect.name == "sqlite":
        migrate(services.engine)
    return services, create_wsgi_app(services, build_app(services))


settings = load_validated_settings()
configure_logging(settings.log_level)
services, application = build_application(settings)
