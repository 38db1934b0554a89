"""Work accepted from Slack is stored before the acknowledgement and survives a restart."""

from sqlalchemy import select

from bot.tasks import TaskRunner
from storage.models import Task, TaskStatus
from tests.bot import app_helpers
from tests.fakes.slack_requests import slash_command

app_harness = app_helpers.app_harness


def test_command_survives_restart_before_it_ran(app_harness):
    harness = app_harness
    harness.services.task_runner.run_on_kick = False  # this process "dies" after its ack
    response_url = harness.fake_slack.new_response_url()

    status, _headers, _body = harness.post(slash_command("status", response_url=response_url))

    assert status == 200
    assert harness.fake_slack.responses(response_url) == []
    with harness.services.sessions() as session:
        task = session.scalar(select(Task))
    assert task.status == TaskStatus.PENDING
    assert "token" not in task.payload
    assert "trigger_id" not in task.payload

    restarted = TaskRunner(harness.services)
    assert restarted.run_pending(wait=True) == 1

    replies = harness.fake_slack.responses(response_url)
    assert len(replies) == 1
    assert "not connected" in replies[0]["text"].lower()
    with harness.services.sessions() as session:
        done = session.scalar(select(Task))
    assert done.status == TaskStatus.DONE
    assert done.payload == {}
