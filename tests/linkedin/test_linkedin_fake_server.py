"""The fake LinkedIn's own checks and its control endpoints, used from other processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from linkedin.client import LinkedInClient
from linkedin.errors import PermissionDenied
from tests.fakes.linkedin_server import FakeLinkedIn, access_denied_response
from tests.linkedin.conftest import TIMEOUT, VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]


def _headers(access_token: str, **overrides: str) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": VERSION,
        "X-Restli-Protocol-Version": "2.0.0",
    }
    headers.update(overrides)
    return {name: value for name, value in headers.items() if value}


def test_rest_requires_protocol_header(fake, access_token):
    response = requests.get(
        f"{fake.api_url}/rest/organizationAcls?q=roleAssignee",
        headers=_headers(access_token, **{"X-Restli-Protocol-Version": ""}),
        timeout=2,
    )
    assert response.status_code == 400


def test_rest_requires_version_header(fake, access_token):
    response = requests.get(
        f"{fake.api_url}/rest/organizationAcls?q=roleAssignee",
        headers=_headers(access_token, **{"LinkedIn-Version": ""}),
        timeout=2,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VERSION_MISSING"


def test_rest_requires_bearer(fake):
    response = requests.get(f"{fake.api_url}/rest/organizationAcls?q=roleAssignee", timeout=2)
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_post_body_shape_checked(fake, access_token, member_urn):
    body = {
        "author": member_urn,
        "commentary": "Hello",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "NONE", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    response = requests.post(f"{fake.api_url}/rest/posts", json=body, headers=_headers(access_token), timeout=2)
    assert response.status_code == 422

    del body["distribution"]
    response = requests.post(f"{fake.api_url}/rest/posts", json=body, headers=_headers(access_token), timeout=2)
    assert response.status_code == 422
    assert fake.posts == []
    assert fake.create_requests == 2


def test_control_script_and_state(fake, client, member_urn):
    response = requests.post(
        f"{fake.base_url}/_fake/script",
        json={"route": "posts.create", "responses": [access_denied_response()]},
        timeout=2,
    )
    assert response.json() == {"queued": 1}

    with pytest.raises(PermissionDenied):
        client.create_post(member_urn, "First")
    client.create_post(member_urn, "Second")

    state = requests.get(f"{fake.base_url}/_fake/state", timeout=2).json()
    assert state["create_requests"] == 2
    assert [post["text"] for post in state["posts"]] == ["Second"]
    assert state["pending_scripts"] == {}
    posts = requests.get(f"{fake.base_url}/_fake/posts", timeout=2).json()
    assert posts["posts"][0]["author"] == member_urn


def test_control_rejects_unknown_route(fake):
    response = requests.post(
        f"{fake.base_url}/_fake/script", json={"route": "nope", "responses": []}, timeout=2
    )
    assert response.status_code == 400


def test_control_config_and_tokens(fake):
    response = requests.post(f"{fake.base_url}/_fake/config", json={"active_versions": ["202701"]}, timeout=2)
    assert response.status_code == 200
    token = requests.post(f"{fake.base_url}/_fake/tokens", json={}, timeout=2).json()["access_token"]
    assert token in fake.issued_tokens

    client = LinkedInClient(token, fake.api_url, "202701", timeout=TIMEOUT)
    assert client.list_postable_organization_ids() == []


def test_route_delay_applies_to_creates(fake, client, member_urn):
    fake.route_delays = {"posts.create": 0.2}
    started = time.monotonic()
    client.get_identity()
    identity_seconds = time.monotonic() - started
    client.create_post(member_urn, "Slow")
    create_seconds = time.monotonic() - started - identity_seconds

    assert identity_seconds < 0.2
    assert create_seconds >= 0.2
    assert fake.create_requests == 1


def test_standalone_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.linkedin_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Fake LinkedIn listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1].strip()

        token = requests.post(f"{base_url}/_fake/tokens", json={}, timeout=2).json()["access_token"]
        identity = LinkedInClient(token, base_url, "202611", timeout=TIMEOUT).get_identity()
        assert identity.first_name == "Ada"
        state = requests.get(f"{base_url}/_fake/state", timeout=2).json()
        assert state["issued_tokens"] == [token]
    finally:
        process.terminate()
        process.wait(timeout=5)
    assert process.returncode == 0


def test_context_manager_stops_server():
    with FakeLinkedIn() as fake:
        base_url = fake.base_url
        assert requests.get(f"{base_url}/_fake/state", timeout=2).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/_fake/state", timeout=2)
