"""Work accepted from Slack is stored before the acknowledgement and survives a restart."""

import json
import os
import subprocess
import sys
from pathlib import Path

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


WORKER_HANDLERS_SCRIPT = """
import importlib, json, sys
from bot.app import LISTENER_MODULES, build_app, build_services_for_app
from bot.settings import load_settings
from bot.tasks import TASK_HANDLERS

for name in LISTENER_MODULES:
    importlib.import_module(name)
imported = set(TASK_HANDLERS)
settings = load_settings(dotenv_path=None)
build_app(build_services_for_app(settings))
print(json.dumps({"imported": sorted(imported), "built": sorted(TASK_HANDLERS)}))
"""


def test_worker_knows_every_task_kind(tmp_path):
    """A worker imports the listener modules but builds no Bolt app; it must still run every task."""

    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "LINKEDIN_", "OPENAI_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        TOKEN_ENCRYPTION_KEY="q5w1mXz0bJ0cS7k0yVb0pGj3sYwq8s8u0hH2Yk6o9dE=",
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET="secret",
        SLACK_API_URL="http://127.0.0.1:9/api/",
        LINKEDIN_CLIENT_ID="id",
        LINKEDIN_CLIENT_SECRET="secret",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    result = subprocess.run([sys.executable, "-c", WORKER_HANDLERS_SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)

    assert result.returncode == 0, result.stderr
    kinds = json.loads(result.stdout.strip().splitlines()[-1])
    assert kinds["built"] == kinds["imported"]
    assert "slack.action.card_approve_schedule" in kinds["imported"]
