"""Fixtures for the LinkedIn client tests: a fake LinkedIn on loopback and clients aimed at it."""

from __future__ import annotations

import pytest

from linkedin.client import LinkedInClient
from linkedin.oauth import OAuthClient
from tests.fakes.linkedin_server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    FakeLinkedIn,
)

VERSION = "202611"
REDIRECT_URI = DEFAULT_REDIRECT_URI
# Short timeouts keep the suite fast; the fake responds on loopback in milliseconds.
TIMEOUT = (2.0, 2.0)


class RecordingSleep:
    """A sleep that returns at once and records each requested wait in seconds."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake():
    with FakeLinkedIn(active_versions={VERSION}) as server:
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def access_token(fake: FakeLinkedIn) -> str:
    return fake.issue_access_token()


@pytest.fixture
def client(fake: FakeLinkedIn, access_token: str, sleep: RecordingSleep) -> LinkedInClient:
    return LinkedInClient(access_token, fake.api_url, VERSION, timeout=TIMEOUT, sleep=sleep)


@pytest.fixture
def oauth(fake: FakeLinkedIn) -> OAuthClient:
    return OAuthClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, fake.oauth_url, timeout=TIMEOUT)


@pytest.fixture
def member_urn(fake: FakeLinkedIn) -> str:
    return f"urn:li:person:{fake.login_member_id}"
