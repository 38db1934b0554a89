"""gunicorn settings and hooks of the web process (`gunicorn -c python:bot.gunicorn_conf`).

The settings are validated (and a SQLite database migrated) in the master before any
worker starts. So a configuration error stops gunicorn with status 2 and one readable
message, instead of workers failing to boot in a loop. The web workers run no durable
tasks; the Procfile's `worker` process does (see bot/tasks.py).
"""

from __future__ import annotations

import sys

# Access logs would print request paths with query strings, which carry LinkedIn's
# authorization code on the callback. So gunicorn's access log stays off.
accesslog = None


def on_starting(server) -> None:
    from bot.cli import NEEDS
    from bot.settings import SettingsError, load_settings

    settings = load_settings()
    try:
        settings.validate(*NEEDS["web"])
    except SettingsError as error:
        print(error.render(), file=sys.stderr)
        sys.exit(2)

    # Workers migrate a SQLite file when they import bot.wsgi. Migrating once here first
    # keeps two workers from creating the same tables at the same moment.
    if settings.sqlalchemy_url.startswith("sqlite"):
        from storage.db import make_engine, migrate

        engine = make_engine(settings.sqlalchemy_url)
        migrate(engine)
        engine.dispose()
