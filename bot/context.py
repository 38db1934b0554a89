"""The services one process shares: settings, clock, database and vault.

Built once per process by `build_services` and passed to everything that needs them, so
tests can build their own with another clock, database or base URL instead of patching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, system_clock
from bot.settings import Settings
from storage.db import make_engine, make_session_factory
from storage.vault import TokenVault


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    vault: TokenVault
    clock: Clock = system_clock
    # Set by the Slack side when the app is built (bot.app.build_app):
    slack: Any = None  # access to Slack's Web API outside a request (DMs, Home refresh)
    linkedin: Any = None  # factory of LinkedIn clients with the configured base URLs
    task_runner: Any = None  # bot.tasks.TaskRunner of this process
    extras: dict = field(default_factory=dict)


def build_vault(settings: Settings) -> TokenVault:
    return TokenVault(settings.encryption_key, settings.old_encryption_keys)


def build_services(settings: Settings, clock: Clock = system_clock, engine: Engine | None = None) -> Services:
    """Build the shared services. Call `settings.validate("database", "vault")` first."""
    engine = engine or make_engine(settings.sqlalchemy_url)
    return Services(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        vault=build_vault(settings),
        clock=clock,
    )
