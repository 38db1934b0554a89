"""Engines, sessions and migrations.

SQLite runs with foreign keys on, WAL and `secure_delete`, so a deleted row is overwritten
with zeros in the page instead of lingering in the file; `purge_deleted` also checkpoints
the WAL so deleted values do not survive in the log either. On PostgreSQL a deleted row
stays in its page until VACUUM reclaims it, which `purge_deleted` runs on the tables named.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; on SQLite, set the pragmas every connection needs."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; issue it ourselves so that
        # a conditional UPDATE and the reads around it see one snapshot.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit when the block ends, roll back if it raises."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Apply every migration that the database does not have yet."""
    logger.info("applying migrations on %s", engine.url.get_backend_name())
    command.upgrade(alembic_config(engine), "head")


def purge_deleted(engine: Engine, tables: list[str]) -> None:
    """Make deleted rows unrecoverable from the database files. Call after the delete committed."""
    if engine.dialect.name == "sqlite":
        _checkpoint_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        # VACUUM cannot run inside a transaction block.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.execute(text(f'VACUUM "{table}"'))


def _checkpoint_sqlite(engine: Engine, attempts: int = 20) -> None:
    """Copy the WAL into the database file and truncate it, retrying while readers hold it."""
    raw = engine.raw_connection()
    try:
        for _ in range(attempts):
            cursor = raw.cursor()
            busy, _log_frames, _moved = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
            if not busy:
                return
            time.sleep(0.05)
        logger.warning("WAL checkpoint stayed busy after %d attempts; deleted rows stay in the WAL until the next checkpoint", attempts)
    finally:
        raw.close()
