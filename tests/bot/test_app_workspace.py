"""Workspaces: uninstalling deletes their data; multi-workspace installs keep tokens encrypted."""

from __future__ import annotations

import glob
import re

import pytest
from sqlalchemy import func, select

from storage.models import LinkedInConnection, Post, SlackInstallation
from tests.bot import app_helpers
from tests.bot.app_helpers import add_post, connect_user, make_harness
from tests.fakes import slack_requests

app_harness = app_helpers.app_harness


def count(harness, model, **where) -> int:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    with harness.services.sessions() as session:
        return session.scalar(statement)


def test_app_uninstalled_removes_workspace_data(app_harness):
    connect_user(app_harness)
    add_post(app_harness)
    add_post(app_harness, team_id="T9", user_id="U9")

    status, _, _ = app_harness.post(slack_requests.app_uninstalled())

    assert status == 200
    assert count(app_harness, LinkedInConnection) == 0
    assert count(app_harness, Post, team_id="T1") == 0
    assert count(app_harness, Post, team_id="T9") == 1


def test_user_token_revocation_keeps_data(app_harness):
    connect_user(app_harness)
    app_harness.post(slack_requests.tokens_revoked(bot_user_ids=[], user_ids=["U1"]))
    assert count(app_harness, LinkedInConnection) == 1


def test_bot_token_revocation_removes_data(app_harness):
    connect_user(app_harness)
    app_harness.post(slack_requests.tokens_revoked())
    assert count(app_harness, LinkedInConnection) == 0


@pytest.fixture
def multi(sqlite_engine, clock):
    harness = make_harness(sqlite_engine, clock=clock, multi_workspace=True)
    yield harness
    harness.close()


def install(harness, team_id="T2") -> str:
    """Install the app into `team_id` through /slack/install and /slack/oauth_redirect."""
    status, _, body = harness.get("/slack/install")
    assert status == 200
    state = re.search(r"state=([\w\-.~%]+)", body.decode()).group(1)
    harness.fake_slack.add_oauth_code("install-code", team_id=team_id)
    status, _, body = harness.get(f"/slack/oauth_redirect?code=install-code&state={state}")
    assert status == 200, body
    [installation] = harness.fake_slack.installations
    return installation["access_token"]


def test_multi_workspace_install_encrypts_bot_token(multi, sqlite_engine):
    bot_token = install(multi)

    with multi.services.sessions() as session:
        row = session.scalar(select(SlackInstallation))
    assert row.team_id == "T2"
    raw = b"".join(open(name, "rb").read() for name in glob.glob(sqlite_engine.url.database + "*"))
    assert bot_token.encode() not in raw

    response_url = multi.fake_slack.new_response_url()
    status, _, _ = multi.post(slack_requests.slash_command("help", team_id="T2", response_url=response_url))
    assert status == 200
    assert multi.fake_slack.responses(response_url)
    assert multi.services.slack.client_for("T2").token == bot_token


def test_multi_workspace_install_without_cookie_fails(multi):
    status, _, body = multi.get("/slack/install")
    state = re.search(r"state=([\w\-.~%]+)", body.decode()).group(1)
    multi.fake_slack.add_oauth_code("install-code", team_id="T2")
    status, _, _ = multi.get(f"/slack/oauth_redirect?code=install-code&state={state}", use_cookies=False)
    assert status >= 400
    assert count(multi, SlackInstallation) == 0


def test_multi_workspace_uninstall_deletes_installation(multi):
    install(multi)
    multi.post(slack_requests.app_uninstalled(team_id="T2"))
    assert count(multi, SlackInstallation) == 0
