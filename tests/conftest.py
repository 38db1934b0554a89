"""Shared fixtures: databases on SQLite (always) and PostgreSQL (when TEST_DATABASE_URL is set),
a settable clock, and real vault keys."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.db import make_engine, make_session_factory, migrate
from storage.vault import TokenVault, generate_key

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


class FixedClock:
    """A clock that stays where a test puts it."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime(2027, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


def postgres_url() -> str:
    url = TEST_DATABASE_URL
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_postgres_database() -> tuple[str, callable]:
    """Create an empty database on the test server. Return its URL and a function that drops it."""
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = postgres_url().rsplit("/", 1)[0]

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base}/{name}", drop


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def vault() -> TokenVault:
    return TokenVault(generate_key())


@pytest.fixture
def sqlite_engine(tmp_path):
    """A migrated SQLite database file, whatever the backend under test."""
    engine = make_engine(f"sqlite:///{tmp_path / 'companycore.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_engine(tmp_path):
    """A migrated database on the backend under test: PostgreSQL if TEST_DATABASE_URL is set."""
    if not TEST_DATABASE_URL:
        engine = make_engine(f"sqlite:///{tmp_path / 'companycore.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    schema = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url())
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(postgres_url(), connect_args={"options": f"-csearch_path={schema}"})
    migrate(engine)
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sessions(db_engine):
    return make_session_factory(db_engine)
