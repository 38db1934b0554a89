"""Connections are stored only encrypted, bound to their row, and deleted for good."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text, update

from storage.connections import (
    StoredConnection,
    delete_connection,
    load_connection,
    save_connection,
)
from storage.db import make_session_factory, purge_deleted, transaction
from storage.models import LinkedInConnection
from storage.rotation import rotate_all
from storage.vault import TokenVault, VaultError, generate_key

ACCESS = "AQV-access-" + "a" * 480
REFRESH = "AQX-refresh-" + "r" * 300
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def make_connection(user="U1", name="Ada Lovelace", member="abc123XYZ"):
    return StoredConnection(
        team_id="T1",
        user_id=user,
        member_urn=f"urn:li:person:{member}",
        member_name=name,
        access_token=ACCESS + user,
        access_token_expires_at=NOW + timedelta(days=60),
        refresh_token=REFRESH + user,
        refresh_token_expires_at=NOW + timedelta(days=365),
        scopes=frozenset({"r_basicprofile", "w_member_social"}),
        organization_ids=("2414183",),
    )


def dump_database(engine) -> bytes:
    """Every value of every table, as text and bytes."""
    chunks = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    chunks.append(value if isinstance(value, bytes | memoryview) else str(value).encode())
    return b"\n".join(bytes(chunk) for chunk in chunks)


def test_tokens_absent_from_dump_but_readable(db_engine, vault):
    sessions = make_session_factory(db_engine)
    with transaction(sessions) as session:
        save_connection(session, vault, make_connection(), NOW)

    dump = dump_database(db_engine)
    assert ACCESS.encode() not in dump
    assert REFRESH.encode() not in dump
    assert b"AQV-access" not in dump

    with sessions() as session:
        loaded = load_connection(session, vault, "T1", "U1")
    assert loaded.access_token == ACCESS + "U1"
    assert loaded.refresh_token == REFRESH + "U1"
    assert ACCESS not in repr(loaded)


def test_copied_ciphertext_fails_to_decrypt(db_engine, vault):
    sessions = make_session_factory(db_engine)
    with transaction(sessions) as session:
        save_connection(session, vault, make_connection("U1"), NOW)
        save_connection(session, vault, make_connection("U2", member="other"), NOW)
    with transaction(sessions) as session:
        stolen = session.scalar(select(LinkedInConnection.access_token).where(LinkedInConnection.user_id == "U1"))
        session.execute(update(LinkedInConnection).where(LinkedInConnection.user_id == "U2").values(access_token=stolen))
    with sessions() as session, pytest.raises(VaultError) as raised:
        load_connection(session, vault, "T1", "U2")
    assert "access_token" in str(raised.value)
    assert ACCESS not in str(raised.value)


def test_rotation_reads_every_token_back(db_engine):
    old_key, new_key = generate_key(), generate_key()
    sessions = make_session_factory(db_engine)
    with transaction(sessions) as session:
        for user in ("U1", "U2", "U3"):
            save_connection(session, TokenVault(old_key), make_connection(user, member=user), NOW)

    rotating = TokenVault(new_key, [old_key])
    with transaction(sessions) as session:
        assert rotate_all(session, rotating) == 6
    with transaction(sessions) as session:
        assert rotate_all(session, rotating) == 0

    only_new = TokenVault(new_key)
    with sessions() as session:
        for user in ("U1", "U2", "U3"):
            loaded = load_connection(session, only_new, "T1", user)
            assert loaded.access_token == ACCESS + user
            assert loaded.refresh_token == REFRESH + user


def test_deleted_connection_leaves_no_trace_in_sqlite_files(sqlite_engine, vault, tmp_path):
    sessions = make_session_factory(sqlite_engine)
    name, member = "Grace Hopperington", "memberQ7zK93"
    with transaction(sessions) as session:
        save_connection(session, vault, make_connection(name=name, member=member), NOW)
    with transaction(sessions) as session:
        assert delete_connection(session, "T1", "U1")
    purge_deleted(sqlite_engine, ["linkedin_connections"])

    files = [p for p in tmp_path.iterdir() if p.name.startswith("companycore.db")]
    assert any(p.name.endswith("-wal") for p in files) or files
    for path in files:
        raw = path.read_bytes()
        assert name.encode() not in raw, path.name
        assert member.encode() not in raw, path.name


def test_naive_datetime_is_rejected(db_engine, vault):
    sessions = make_session_factory(db_engine)
    connection = make_connection()
    connection.access_token_expires_at = datetime(2027, 3, 1)
    with pytest.raises(Exception, match="naive"), transaction(sessions) as session:
        save_connection(session, vault, connection, NOW)
