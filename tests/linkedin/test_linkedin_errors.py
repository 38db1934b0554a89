"""Each LinkedIn failure, produced by the fake, and the exception type it maps to."""

from __future__ import annotations

import logging

import pytest

from linkedin.client import LinkedInClient
from linkedin.errors import (
    DuplicatePost,
    LinkedInError,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ReconnectRequired,
    TextRejected,
    Transient,
    VersionRetired,
)
from tests.fakes.linkedin_server import (
    FakeLinkedIn,
    access_denied_response,
    drop_after_accept,
    duplicate_post_response,
    expired_token_response,
    hang_after_accept,
    rate_limited_response,
    server_error_response,
    version_retired_response,
)
from tests.linkedin.conftest import TIMEOUT, VERSION


def test_expired_token_on_create(client, fake, member_urn):
    fake.script("posts.create", expired_token_response())
    with pytest.raises(ReconnectRequired) as caught:
        client.create_post(member_urn, "Hello")

    assert caught.value.status == 401
    assert caught.value.code == "EXPIRED_ACCESS_TOKEN"
    assert caught.value.service_error_code == 65602
    assert fake.create_requests == 1


def test_expired_token_on_read(client, fake, access_token):
    fake.expire_token(access_token)
    with pytest.raises(ReconnectRequired) as caught:
        client.get_identity()
    assert caught.value.code == "EXPIRED_ACCESS_TOKEN"


def test_access_denied(client, fake, member_urn):
    fake.script("posts.create", access_denied_response())
    with pytest.raises(PermissionDenied) as caught:
        client.create_post(member_urn, "Hello")
    assert caught.value.status == 403
    assert caught.value.code == "ACCESS_DENIED"
    assert caught.value.service_error_code == 100


def test_missing_scope_denied(fake, member_urn):
    token = fake.issue_access_token(scopes=["r_basicprofile"])
    client = LinkedInClient(token, fake.api_url, VERSION, timeout=TIMEOUT)
    with pytest.raises(PermissionDenied):
        client.create_post(member_urn, "Hello")
    assert fake.posts == []


def test_scripted_duplicate(client, fake, member_urn):
    fake.script("posts.create", duplicate_post_response("urn:li:share:6900000000000000001"))
    with pytest.raises(DuplicatePost) as caught:
        client.create_post(member_urn, "Hello")
    assert caught.value.status == 422
    assert caught.value.code == "DUPLICATE_POST"
    assert caught.value.duplicate_of == "urn:li:share:6900000000000000001"


def test_real_duplicate_names_first_post(client, fake, member_urn):
    first = client.create_post(member_urn, "Same words twice")
    with pytest.raises(DuplicatePost) as caught:
        client.create_post(member_urn, "Same words twice")
    assert caught.value.duplicate_of == first.urn
    assert fake.create_requests == 2
    assert len(fake.posts) == 1


def test_too_long_text_rejected_clearly(client, fake, member_urn):
    text = "a" * 2990 + "(x)" * 5  # 3005 characters, 3015 after escaping
    with pytest.raises(TextRejected) as caught:
        client.create_post(member_urn, text)

    error = caught.value
    assert error.status == 422
    assert error.code == "FIELD_LENGTH_TOO_LONG"
    assert error.text_chars == 3005
    assert error.commentary_chars == 3015
    assert "too long" in str(error)
    assert "3005" in str(error)
    assert "3000" in str(error)
    assert text not in str(error)
    assert fake.posts == []


def test_retired_version_names_setting(fake, access_token):
    client = LinkedInClient(access_token, fake.api_url, "202401", timeout=TIMEOUT)
    with pytest.raises(VersionRetired) as caught:
        client.list_postable_organization_ids()

    assert caught.value.status == 426
    assert caught.value.code == "NONEXISTENT_VERSION"
    assert "LINKEDIN_VERSION" in str(caught.value)
    assert "202401" in str(caught.value)


def test_scripted_version_retired_on_create(client, fake, member_urn):
    fake.script("posts.create", version_retired_response())
    with pytest.raises(VersionRetired):
        client.create_post(member_urn, "Hello")


def test_rate_limited_create_not_retried(client, fake, member_urn, sleep):
    fake.script("posts.create", rate_limited_response(retry_after=7))
    with pytest.raises(RateLimited) as caught:
        client.create_post(member_urn, "Hello")

    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429
    assert fake.create_requests == 1
    assert sleep.calls == []


def test_rate_limited_read_retried_after_wait(client, fake, sleep, caplog):
    fake.script("me", rate_limited_response(retry_after=2))
    with caplog.at_level(logging.WARNING, logger="linkedin"):
        identity = client.get_identity()

    assert identity.first_name == "Ada"
    assert sleep.calls == [2.0]
    assert "status=429" in caplog.text


def test_long_retry_after_raised_at_once(client, fake, sleep):
    fake.script("me", rate_limited_response(retry_after=3600))
    with pytest.raises(RateLimited) as caught:
        client.get_identity()
    assert caught.value.retry_after == 3600.0
    assert sleep.calls == []


def test_server_errors_on_read_retried(client, fake, sleep):
    fake.script("me", server_error_response(502), server_error_response(503))
    assert client.get_identity().last_name == "Lovelace"
    assert sleep.calls == [1.0, 2.0]
    assert len(fake.requests_to("me")) == 3


def test_server_errors_on_read_give_up(client, fake, sleep):
    fake.script("me", *[server_error_response(500)] * 3)
    with pytest.raises(Transient) as caught:
        client.get_identity()
    assert caught.value.status == 500
    assert len(fake.requests_to("me")) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_on_create_outcome_unknown(client, fake, member_urn, status, sleep):
    fake.script("posts.create", server_error_response(status))
    with pytest.raises(OutcomeUnknown) as caught:
        client.create_post(member_urn, "Hello")
    assert caught.value.status == status
    assert fake.create_requests == 1
    assert sleep.calls == []


def test_accepted_create_answered_502(client, fake, member_urn):
    fake.script("posts.create", server_error_response(502, accept=True))
    with pytest.raises(OutcomeUnknown):
        client.create_post(member_urn, "Hello")
    assert fake.create_requests == 1
    assert len(fake.posts) == 1


def test_create_timeout_outcome_unknown(fake, access_token, member_urn):
    client = LinkedInClient(access_token, fake.api_url, VERSION, timeout=(2.0, 0.5))
    fake.script("posts.create", hang_after_accept(3.0))

    with pytest.raises(OutcomeUnknown) as caught:
        client.create_post(member_urn, "Hello")

    assert "may have been published" in str(caught.value)
    assert fake.create_requests == 1
    assert len(fake.posts) == 1


def test_dropped_connection_outcome_unknown(client, fake, member_urn):
    fake.script("posts.create", drop_after_accept())
    with pytest.raises(OutcomeUnknown):
        client.create_post(member_urn, "Hello")
    assert fake.create_requests == 1
    assert len(fake.posts) == 1


def test_connect_failure_on_create_is_transient(access_token, member_urn):
    # A port this test opened and closed again, so nothing listens there.
    stopped = FakeLinkedIn().start()
    api_url = stopped.api_url
    stopped.stop()
    client = LinkedInClient(access_token, api_url, VERSION, timeout=TIMEOUT)

    with pytest.raises(Transient) as caught:
        client.create_post(member_urn, "Hello")
    assert not isinstance(caught.value, OutcomeUnknown)


def test_read_timeout_on_read_is_transient(fake, access_token, sleep):
    client = LinkedInClient(access_token, fake.api_url, VERSION, timeout=(2.0, 0.3), sleep=sleep, read_attempts=2)
    fake.script("me", hang_after_accept(1.0), hang_after_accept(1.0))
    with pytest.raises(Transient):
        client.get_identity()
    assert sleep.calls == [1.0]


def test_unknown_token_rejected(fake):
    client = LinkedInClient("not-a-token", fake.api_url, VERSION, timeout=TIMEOUT)
    with pytest.raises(ReconnectRequired) as caught:
        client.get_identity()
    assert caught.value.code == "INVALID_ACCESS_TOKEN"


def test_tokens_never_in_errors_or_logs(fake, access_token, member_urn, caplog):
    client = LinkedInClient(access_token, fake.api_url, VERSION, timeout=(2.0, 0.3))
    fake.script(
        "posts.create",
        expired_token_response(),
        access_denied_response(),
        duplicate_post_response("urn:li:share:1"),
        version_retired_response(),
        rate_limited_response(),
        server_error_response(502),
        hang_after_accept(1.0),
        drop_after_accept(),
    )
    errors: list[LinkedInError] = []

    with caplog.at_level(logging.DEBUG):
        for number in range(8):
            with pytest.raises(LinkedInError) as caught:
                client.create_post(member_urn, f"Attempt {number}")
            errors.append(caught.value)

    assert len({type(error) for error in errors}) == 6
    for error in errors:
        assert access_token not in str(error)
        assert access_token not in repr(error)
        assert access_token not in str(error.__cause__ or "")
    assert access_token not in caplog.text
    assert access_token not in repr(client)
    assert "Attempt" not in caplog.text  # post text is never logged
