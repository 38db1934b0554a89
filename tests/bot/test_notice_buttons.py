"""Buttons in the publisher's messages reach a listener that handles them."""

from datetime import UTC, datetime

import pytest

from bot.views import notices
from tests.bot import app_helpers
from tests.fakes.slack_requests import block_action

app_harness = app_helpers.app_harness


def button_ids(notice: notices.Notice) -> set[str]:
    _text, blocks = notice
    return {
        element["action_id"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


@pytest.mark.parametrize(
    "notice",
    [
        notices.reconnect_needed([1, 2], "LinkedIn no longer accepts your connection."),
        notices.expiry_reminder(datetime(2027, 3, 1, tzinfo=UTC), 1),
    ],
    ids=["reconnect", "expiry"],
)
def test_connect_button_in_notice_opens_modal(app_harness, notice):
    assert notices.HOME_CONNECT in button_ids(notice)

    status, _headers, _body = app_harness.post(
        block_action(notices.HOME_CONNECT, "", user_id="U1", team_id="T1", container="message", channel_id="D1")
    )

    assert status == 200
    opened = app_harness.fake_slack.wait_for("views.open")
    assert "/linkedin/connect?" in str(opened[0]["view"])
