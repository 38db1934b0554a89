"""Self-tests of the fakes, driven through the real clients the app uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs

import openai
import pytest
import requests
from pydantic import BaseModel
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fakes import slack_requests
from tests.fakes.openai_server import RESERVED_CHARACTER_SAMPLE, FakeOpenAI, Reply
from tests.fakes.slack_server import FakeSlack, Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"

DRAFT_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "media_suggestions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["text", "media_suggestions"],
    "additionalProperties": False,
}


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack):
    return WebClient(token=TOKEN, base_url=slack.base_url)


@pytest.fixture
def llm():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def openai_client(llm):
    return openai.OpenAI(base_url=llm.base_url, api_key="sk-test-key", max_retries=0)


def draft_format(schema=DRAFT_SCHEMA):
    return {"type": "json_schema", "json_schema": {"name": "linkedin_draft", "strict": True, "schema": schema}}


# ---------------------------------------------------------------------- FakeSlack: auth


def test_base_url_ends_with_api_slash(slack):
    assert slack.base_url.startswith("http://127.0.0.1:")
    assert slack.base_url.endswith("/api/")


def test_auth_test_returns_workspace_identity(client):
    response = client.auth_test()
    assert response["team_id"] == "T1"
    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == "B0BOT"


def test_unknown_token_is_invalid_auth(slack):
    with pytest.raises(SlackApiError) as raised:
        WebClient(token="xoxb-wrong", base_url=slack.base_url).auth_test()
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "invalid_auth"


def test_missing_token_is_not_authed(slack):
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=slack.base_url).chat_postMessage(channel="C1", text="hi")
    assert raised.value.response["error"] == "not_authed"


def test_token_in_form_field_is_accepted(slack):
    response = requests.post(slack.base_url + "auth.test", data={"token": TOKEN}, timeout=5)
    assert response.json()["ok"] is True
    assert slack.calls_to("auth.test")[0]["token"] == TOKEN


def test_revoked_token_is_token_revoked(slack, client):
    slack.revoke_token(TOKEN)
    with pytest.raises(SlackApiError) as raised:
        client.auth_test()
    assert raised.value.response["error"] == "token_revoked"


# ---------------------------------------------------------------------- FakeSlack: messages


def test_post_message_to_user_returns_stable_dm_channel(slack, client):
    first = client.chat_postMessage(channel="U123", text="one")
    second = client.chat_postMessage(channel="U123", text="two")
    assert first["channel"] == second["channel"] == slack.dm_channel_id("U123")
    assert first["channel"].startswith("D")
    assert float(second["ts"]) > float(first["ts"])


def test_conversations_open_matches_post_message_channel(client):
    opened = client.conversations_open(users="U5")
    posted = client.chat_postMessage(channel="U5", text="hi")
    assert opened["channel"]["id"] == posted["channel"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_empty_is_no_text(client):
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="")
    assert raised.value.response["error"] == "no_text"


def test_post_message_over_50_blocks_is_invalid_blocks(client):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": str(i)}} for i in range(51)]
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="many", blocks=blocks)
    assert raised.value.response["error"] == "invalid_blocks"
    assert "no more than 50" in raised.value.response["response_metadata"]["messages"][0]


def test_post_message_long_button_text_is_invalid_blocks(client):
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="t", blocks=[{"type": "actions", "elements": [button]}])
    assert "/blocks/0/elements/0/text/text" in raised.value.response["response_metadata"]["messages"][0]


def test_form_encoded_blocks_are_decoded(slack):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]
    response = requests.post(
        slack.base_url + "chat.postMessage",
        data={"channel": "C1", "text": "t", "blocks": json.dumps(blocks)},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert response.json()["ok"] is True
    assert slack.messages("C1")[0]["blocks"] == blocks


def test_update_changes_message_and_history(slack, client):
    posted = client.chat_postMessage(channel="C1", text="draft")
    client.chat_update(channel="C1", ts=posted["ts"], text="approved")
    assert slack.message("C1", posted["ts"])["text"] == "approved"
    assert [m["method"] for m in slack.messages("C1")] == ["chat.postMessage", "chat.update"]


def test_update_unknown_ts_is_message_not_found(client):
    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel="C1", ts="1.000001", text="x")
    assert raised.value.response["error"] == "message_not_found"


def test_delete_removes_message(slack, client):
    posted = client.chat_postMessage(channel="C1", text="bye")
    client.chat_delete(channel="C1", ts=posted["ts"])
    assert slack.message("C1", posted["ts"]) is None
    with pytest.raises(SlackApiError):
        client.chat_delete(channel="C1", ts=posted["ts"])


def test_post_ephemeral_is_recorded_apart(slack, client):
    response = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert response["message_ts"]
    assert slack.ephemerals("C1")[0]["user"] == "U1"
    assert slack.messages() == []


def test_injected_failure_returns_error_once(slack, client):
    slack.fail("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response["error"] == "channel_not_found"
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True


# ---------------------------------------------------------------------- FakeSlack: rate limits


def test_rate_limit_returns_429_with_retry_after(slack, client):
    slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["retry-after"] in (["7"], "7")


def test_rate_limit_retry_handler_succeeds(slack, client):
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    response = client.chat_postMessage(channel="C1", text="x")
    assert response["ok"] is True
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(slack.messages("C1")) == 1


# ---------------------------------------------------------------------- FakeSlack: users, views


def test_users_info_defaults_to_new_york(client):
    user = client.users_info(user="U1", include_locale=True)["user"]
    assert user["tz"] == "America/New_York"
    assert user["tz_offset"] in (-18000, -14400)
    assert user["locale"] == "en-US"


def test_users_info_uses_configured_user(slack, client):
    slack.add_user("U2", tz="Europe/Berlin", locale="de-DE")
    user = client.users_info(user="U2", include_locale=True)["user"]
    assert user["tz"] == "Europe/Berlin"
    assert user["tz_offset"] in (3600, 7200)
    assert user["locale"] == "de-DE"


def test_users_info_omits_locale_unless_requested(client):
    assert "locale" not in client.users_info(user="U1")["user"]


def test_views_publish_stores_home_view(slack, client):
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Calendar"}}]
    client.views_publish(user_id="U1", view={"type": "home", "blocks": blocks})
    assert slack.home_view("U1")["blocks"] == blocks
    assert slack.home_view("U2") is None


def test_views_publish_over_100_blocks_is_rejected(client):
    blocks = [{"type": "divider"}] * 101
    with pytest.raises(SlackApiError) as raised:
        client.views_publish(user_id="U1", view={"type": "home", "blocks": blocks})
    assert raised.value.response["error"] == "invalid_arguments"


def test_views_publish_too_large_is_view_too_large(client):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}} for _ in range(90)]
    with pytest.raises(SlackApiError) as raised:
        client.views_publish(user_id="U1", view={"type": "home", "blocks": blocks})
    assert raised.value.response["error"] == "view_too_large"


def test_views_open_trigger_id_is_single_use(client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Schedule"}, "blocks": []}
    opened = client.views_open(trigger_id="123.456.abc", view=view)
    assert opened["view"]["id"].startswith("V")
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id="123.456.abc", view=view)
    assert raised.value.response["error"] == "exchanged_trigger_id"


def test_views_open_long_title_is_rejected(client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": []}
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id="1.2.3", view=view)
    assert raised.value.response["error"] == "invalid_arguments"


def test_views_update_replaces_stored_view(slack, client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "One"}, "blocks": []}
    view_id = client.views_open(trigger_id="1.2.3", view=view)["view"]["id"]
    client.views_update(view_id=view_id, view={**view, "title": {"type": "plain_text", "text": "Two"}})
    assert slack.view(view_id)["title"]["text"] == "Two"


def test_views_update_unknown_view_is_not_found(client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "One"}, "blocks": []}
    with pytest.raises(SlackApiError) as raised:
        client.views_update(view_id="V404", view=view)
    assert raised.value.response["error"] == "not_found"


def test_assistant_set_status_requires_thread(slack, client):
    client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.1", status="is writing…")
    assert slack.calls_to("assistant.threads.setStatus")[0]["status"] == "is writing…"
    with pytest.raises(SlackApiError):
        client.api_call("assistant.threads.setStatus", json={"channel_id": "D1", "status": "x"})


# ---------------------------------------------------------------------- FakeSlack: OAuth, files


def test_oauth_v2_access_issues_working_token(slack):
    slack.add_oauth_code("code-1", team_id="T2", team="Second Team")
    anonymous = WebClient(base_url=slack.base_url)
    installation = anonymous.oauth_v2_access(client_id=slack.client_id, client_secret=slack.client_secret, code="code-1")
    token = installation["access_token"]
    assert installation["team"]["id"] == "T2"
    assert token in slack.issued_tokens
    assert WebClient(token=token, base_url=slack.base_url).auth_test()["team_id"] == "T2"
    assert slack.installations[0]["access_token"] == token


def test_oauth_v2_access_code_is_single_use(slack):
    slack.add_oauth_code("code-1")
    anonymous = WebClient(base_url=slack.base_url)
    anonymous.oauth_v2_access(client_id=slack.client_id, client_secret=slack.client_secret, code="code-1")
    with pytest.raises(SlackApiError) as raised:
        anonymous.oauth_v2_access(client_id=slack.client_id, client_secret=slack.client_secret, code="code-1")
    assert raised.value.response["error"] == "invalid_code"


def test_oauth_v2_access_wrong_secret_is_rejected(slack):
    slack.add_oauth_code("code-1")
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=slack.base_url).oauth_v2_access(client_id=slack.client_id, client_secret="nope", code="code-1")
    assert raised.value.response["error"] == "bad_client_secret"


def test_file_download_requires_bot_token(slack, client):
    slack.add_file("F1", "photo.png", b"\x89PNG-bytes", "image/png")
    url = client.files_info(file="F1")["file"]["url_private_download"]
    authorized = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    anonymous = requests.get(url, timeout=5)
    assert authorized.content == b"\x89PNG-bytes"
    assert authorized.headers["Content-Type"] == "image/png"
    assert anonymous.headers["Content-Type"].startswith("text/html")
    assert [d["authorized"] for d in slack.downloads] == [True, False]


def test_files_info_unknown_file_is_file_not_found(client):
    with pytest.raises(SlackApiError) as raised:
        client.files_info(file="F404")
    assert raised.value.response["error"] == "file_not_found"


# ---------------------------------------------------------------------- FakeSlack: response_url, polling


def test_response_url_records_webhook_body(slack):
    url = slack.new_response_url()
    response = WebhookClient(url).send(text="done", replace_original=True)
    assert response.status_code == 200
    assert slack.responses(url) == [{"text": "done", "replace_original": True}]


def test_response_url_sixth_post_is_rejected(slack):
    url = slack.new_response_url()
    statuses = [WebhookClient(url).send(text=str(i)).status_code for i in range(6)]
    assert statuses[:5] == [200] * 5
    assert statuses[5] == 404


def test_wait_for_times_out_with_message(slack):
    with pytest.raises(AssertionError, match="chat.postMessage"):
        slack.wait_for("chat.postMessage", timeout=0.1)


def test_control_endpoints_drive_fake(slack, client):
    requests.post(slack.root_url + "_fake/users", json={"user_id": "U9", "tz": "Asia/Tokyo"}, timeout=5)
    client.views_publish(user_id="U9", view={"type": "home", "blocks": []})
    home = requests.get(slack.root_url + "_fake/home/U9", timeout=5).json()
    calls = requests.get(slack.root_url + "_fake/calls?method=views.publish", timeout=5).json()
    assert client.users_info(user="U9")["user"]["tz"] == "Asia/Tokyo"
    assert home["view"]["type"] == "home"
    assert len(calls["calls"]) == 1


def test_other_workspace_token_sees_its_team(slack):
    slack.add_token("xoxb-second", Workspace(team_id="T9", bot_user_id="UBOT9"))
    assert WebClient(token="xoxb-second", base_url=slack.base_url).auth_test()["team_id"] == "T9"


# ---------------------------------------------------------------------- slack_requests


def test_signature_verifies_with_slack_sdk():
    body, content_type = slack_requests.slash_command("new launch post")
    headers = slack_requests.sign(SECRET, body)
    assert headers["content-type"] == content_type
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)


def test_old_timestamp_fails_verification():
    body, _ = slack_requests.app_home_opened("U1")
    headers = slack_requests.sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_slash_command_has_real_fields():
    body, content_type = slack_requests.slash_command("help", response_url="http://127.0.0.1/x")
    fields = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    assert content_type == "application/x-www-form-urlencoded"
    for name in ("team_id", "channel_id", "user_id", "command", "text", "response_url", "trigger_id", "api_app_id"):
        assert name in fields
    assert fields["command"] == "/linkedin"


def test_block_action_view_container_has_no_response_url():
    body, _ = slack_requests.block_action("open_day", "2026-03-01", container="view", view_id="V1")
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["container"] == {"type": "view", "view_id": "V1"}
    assert payload["view"]["type"] == "home"
    assert "response_url" not in payload


def test_event_callback_has_authorizations():
    body, content_type = slack_requests.message_im("U1", "hello", thread_ts="1.5")
    envelope = json.loads(body)
    assert content_type == "application/json"
    assert envelope["type"] == "event_callback"
    assert envelope["authorizations"][0]["is_bot"] is True
    assert envelope["event"]["channel_type"] == "im"
    assert envelope["event"]["thread_ts"] == "1.5"


def build_bolt_app(slack: FakeSlack) -> App:
    app = App(
        signing_secret=SECRET,
        client=WebClient(token=TOKEN, base_url=slack.base_url),
        process_before_response=True,
    )

    @app.command("/linkedin")
    def on_command(ack, command, respond, client):
        ack(f"working on {command['text']}")
        respond("draft ready")
        client.views_open(trigger_id=command["trigger_id"], view={"type": "modal", "title": {"type": "plain_text", "text": "Draft"}, "blocks": []})

    @app.action("approve")
    def on_approve(ack, body, respond):
        ack()
        respond(replace_original=True, text=f"approved {body['actions'][0]['value']}")

    @app.view("schedule")
    def on_schedule(ack, view):
        ack(response_action="errors", errors={"when": view["state"]["values"]["when"]["time"]["selected_time"]})

    @app.event("message")
    def on_message(event, say):
        say(text=f"got {event['text']}", thread_ts=event.get("thread_ts"))

    @app.event("app_home_opened")
    def on_home(event, client):
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

    return app


def test_bolt_accepts_built_requests_in_process(slack):
    handler = SlackRequestHandler(build_bolt_app(slack))
    url = slack.new_response_url()

    status, _, body = slack_requests.call_wsgi_signed(handler, SECRET, slack_requests.slash_command("launch", response_url=url))
    assert status == "200 OK"
    assert body == b"working on launch"
    assert slack.responses(url) == [{"text": "draft ready"}]
    assert len(slack.calls_to("views.open")) == 1

    slack_requests.call_wsgi_signed(handler, SECRET, slack_requests.block_action("approve", "p1", response_url=url))
    assert slack.responses(url)[-1] == {"text": "approved p1", "replace_original": True}

    state = {"when": {"time": {"type": "timepicker", "selected_time": "09:30"}}}
    _, _, body = slack_requests.call_wsgi_signed(handler, SECRET, slack_requests.view_submission("schedule", state))
    assert json.loads(body)["errors"] == {"when": "09:30"}

    slack_requests.call_wsgi_signed(handler, SECRET, slack_requests.message_im("U1", "hello"))
    assert slack.messages("D1")[-1]["text"] == "got hello"

    slack_requests.call_wsgi_signed(handler, SECRET, slack_requests.app_home_opened("U7"))
    assert slack.home_view("U7") is not None


def test_bolt_rejects_wrong_signature(slack):
    handler = SlackRequestHandler(build_bolt_app(slack))
    status, _, _ = slack_requests.call_wsgi_signed(handler, "wrong-secret", slack_requests.app_home_opened("U1"))
    assert status == "401 Unauthorized"


def test_requester_posts_to_running_app(slack):
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, SlackRequestHandler(build_bolt_app(slack)), handler_class=QuietHandler)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        requester = slack_requests.SlackRequester(f"http://127.0.0.1:{server.server_port}", SECRET)
        accepted = requester.post(slack_requests.app_home_opened("U3"))
        rejected = requester.post(slack_requests.app_home_opened("U3"), signature="v0=bad")
    finally:
        server.shutdown()
        server.server_close()
    assert accepted.status_code == 200
    assert rejected.status_code == 401
    assert slack.home_view("U3") is not None


# ---------------------------------------------------------------------- FakeOpenAI


def test_openai_json_schema_reply_matches_schema(llm, openai_client):
    completion = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You write LinkedIn posts."}, {"role": "user", "content": "Announce v2"}],
        response_format=draft_format(),
    )
    draft = json.loads(completion.choices[0].message.content)
    assert set(draft) == {"text", "media_suggestions"}
    assert "Announce v2" in draft["text"]
    assert RESERVED_CHARACTER_SAMPLE in draft["text"]
    assert llm.requests[0]["messages"][0]["content"] == "You write LinkedIn posts."


def test_openai_parse_with_pydantic_model(openai_client):
    class Draft(BaseModel):
        text: str
        media_suggestions: list[str]

    completion = openai_client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hiring news"}], response_format=Draft
    )
    assert "Hiring news" in completion.choices[0].message.parsed.text


def test_openai_wrong_key_is_401(llm):
    bad_client = openai.OpenAI(base_url=llm.base_url, api_key="sk-wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        bad_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "invalid_api_key"
    assert llm.requests == []


def test_openai_missing_model_is_400(llm):
    response = requests.post(
        llm.base_url + "/chat/completions",
        json={"messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": "Bearer sk-test-key"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_openai_non_strict_schema_is_rejected(openai_client):
    loose = {key: value for key, value in DRAFT_SCHEMA.items() if key != "additionalProperties"}
    with pytest.raises(openai.BadRequestError, match="additionalProperties"):
        openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], response_format=draft_format(loose))


def test_openai_scripted_replies_in_order(llm, openai_client):
    llm.respond_with([{"text": "first", "media_suggestions": []}, Reply(refusal="cannot help")])
    messages = [{"role": "user", "content": "x"}]
    first = openai_client.chat.completions.create(model="m", messages=messages, response_format=draft_format())
    second = openai_client.chat.completions.create(model="m", messages=messages, response_format=draft_format())
    third = openai_client.chat.completions.create(model="m", messages=messages, response_format=draft_format())
    assert json.loads(first.choices[0].message.content)["text"] == "first"
    assert second.choices[0].message.refusal == "cannot help"
    assert "Draft:" in json.loads(third.choices[0].message.content)["text"]


def test_openai_reply_not_matching_schema_is_500(llm, openai_client):
    llm.respond_with({"text": 5})
    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], response_format=draft_format())
    assert "does not match the schema" in llm.errors[0]


def test_openai_injected_500_then_success(llm, openai_client):
    llm.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices[0].message.content


def test_openai_injected_429_has_retry_after(llm, openai_client):
    llm.rate_limit_next(retry_after=3)
    with pytest.raises(openai.RateLimitError) as raised:
        openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.headers["retry-after"] == "3"


def test_openai_hang_triggers_client_timeout(llm):
    llm.hang_next(seconds=5)
    impatient = openai.OpenAI(base_url=llm.base_url, api_key="sk-test-key", max_retries=0, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 3


def test_openai_wait_for_requests_returns_bodies(llm, openai_client):
    openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "profile: CTO"}])
    assert llm.wait_for_requests(1, timeout=1)[0]["messages"][-1]["content"] == "profile: CTO"
    with pytest.raises(AssertionError):
        llm.wait_for_requests(2, timeout=0.1)


# ---------------------------------------------------------------------- standalone processes


def start_standalone(module: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    return process, process.stdout.readline().strip()


def test_slack_standalone_serves_control_endpoints():
    process, base_url = start_standalone("tests.fakes.slack_server")
    try:
        root = base_url.removesuffix("api/")
        WebClient(token=TOKEN, base_url=base_url).chat_postMessage(channel="C1", text="hi")
        messages = requests.get(root + "_fake/messages", timeout=5).json()["messages"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert messages[0]["text"] == "hi"


def test_openai_standalone_serves_script_endpoint():
    process, base_url = start_standalone("tests.fakes.openai_server")
    try:
        root = base_url.removesuffix("v1")
        requests.post(root + "_fake/script", json={"replies": ["scripted"]}, timeout=5)
        client = openai.OpenAI(base_url=base_url, api_key="sk-test-key", max_retries=0)
        content = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices[0].message.content
        recorded = requests.get(root + "_fake/requests", timeout=5).json()["requests"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert content == "scripted"
    assert recorded[0]["model"] == "m"
