"""Requests to the WSGI app: signatures, routes, health and the transparency page."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from storage.models import LinkedInConnection
from tests.bot import app_helpers
from tests.bot.app_helpers import connect_user, make_harness
from tests.fakes import slack_requests
from tests.fakes.slack_requests import call_wsgi

app_harness = app_helpers.app_harness


def assert_rejected_and_unchanged(harness, **options):
    connect_user(harness)
    response_url = harness.fake_slack.new_response_url()
    harness.fake_slack.clear_calls()
    status, _, _ = harness.post(slack_requests.slash_command("disconnect", response_url=response_url), **options)
    assert status == 401
    assert harness.fake_slack.responses() == []
    assert harness.fake_slack.calls == []
    with harness.services.sessions() as session:
        assert session.scalar(select(LinkedInConnection)) is not None


def test_unsigned_request_rejected(app_harness):
    assert_rejected_and_unchanged(app_harness, signature="")


def test_wrongly_signed_request_rejected(app_harness):
    assert_rejected_and_unchanged(app_harness, signature="v0=" + "0" * 64)


def test_stale_request_rejected(app_harness):
    assert_rejected_and_unchanged(app_harness, timestamp=int(time.time()) - 600)


def test_unknown_route_is_404(app_harness):
    status, _, _ = app_harness.get("/nothing-here")
    assert status == 404


def test_slack_install_is_404_in_single_workspace(app_harness):
    status, _, _ = app_harness.get("/slack/install")
    assert status == 404


def test_events_path_requires_post(app_harness):
    status, _, _ = app_harness.get("/slack/events")
    assert status == 405


def test_healthz_checks_database(app_harness):
    status, _, body = app_harness.get("/healthz")
    assert status == 200
    assert body == b"ok"


def test_transparency_page_lists_scopes_and_fields(app_harness):
    status, headers, body = app_harness.get("/linkedin-integration")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    for needle in ("w_member_social", "r_basicprofile", "member_urn", "AES-256-GCM", "approval"):
        assert needle in page


def test_help_lists_registered_subcommands(app_harness):
    response_url = app_harness.fake_slack.new_response_url()
    status, _, _ = app_harness.post(slack_requests.slash_command("nonsense", response_url=response_url))
    assert status == 200
    [reply] = app_harness.fake_slack.responses(response_url)
    for name in ("connect", "disconnect", "status", "delete-my-data", "help"):
        assert f"/linkedin {name}" in reply["text"]
    assert "There is no `/linkedin nonsense`" in reply["text"]


def test_status_shows_connection(app_harness):
    connect_user(app_harness)
    response_url = app_harness.fake_slack.new_response_url()
    app_harness.post(slack_requests.slash_command("status", response_url=response_url))
    [reply] = app_harness.fake_slack.responses(response_url)
    assert "Connected as *Ada Lovelace*" in reply["text"]


def test_connect_link_button_is_acked(app_harness):
    request = slack_requests.block_action("linkedin_connect_link", container="view", view_type="modal")
    status, _, _ = app_harness.post(request)
    assert status == 200


def test_home_connect_button_opens_modal_with_link(app_harness):
    request = slack_requests.block_action("home_connect_linkedin", container="view", view_type="home")
    status, _, _ = app_harness.post(request)
    assert status == 200
    [opened] = app_harness.fake_slack.calls_to("views.open")
    assert "/linkedin/connect?t=" in str(opened["view"])


def test_head_request_has_no_body(app_harness):
    status, _, body = call_wsgi(app_harness.wsgi, "HEAD", "/healthz")
    assert status.startswith("200")
    assert body == b""


def test_single_workspace_has_no_oauth_flow(app_harness):
    assert app_harness.bolt_app.oauth_flow is None


def test_single_workspace_rejects_client_id_in_environment(db_engine, clock, monkeypatch):
    monkeypatch.setenv("SLACK_CLIENT_ID", "1111.2222")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "secret")
    with pytest.raises(RuntimeError, match="SLACK_CLIENT_ID"):
        make_harness(db_engine, clock=clock)
