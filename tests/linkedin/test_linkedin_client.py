"""Identity, postable Pages, Page names, images and posts against the fake LinkedIn."""

from __future__ import annotations

import pytest
import requests

from linkedin.client import LinkedInClient, post_url
from linkedin.errors import (
    ImageProcessingFailed,
    ImageProcessingTimeout,
    InvalidImage,
    LinkedInError,
    PermissionDenied,
)
from linkedin.little_text import to_commentary
from linkedin.organization_names import OrganizationNames
from tests.linkedin.conftest import TIMEOUT, VERSION
from tests.linkedin.image_bytes import gif_bytes, jpeg_bytes, png_bytes

ORG_URN = "urn:li:organization:2414183"
MAIN_FEED = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}


@pytest.fixture
def organization(fake):
    fake.add_organization("2414183", "Acme Robotics")
    return ORG_URN


def test_identity(client, fake):
    identity = client.get_identity()

    assert identity.member_id == fake.login_member_id
    assert identity.first_name == "Ada"
    assert identity.last_name == "Lovelace"
    assert identity.member_urn == f"urn:li:person:{fake.login_member_id}"


def test_organization_acl_paging(client, fake):
    for number in range(230):
        fake.add_organization(str(1000 + number), f"Page {number}")

    organization_ids = client.list_postable_organization_ids()

    assert organization_ids == [str(1000 + number) for number in range(230)]
    acl_requests = fake.requests_to("organizationAcls")
    assert len(acl_requests) == 3
    for request, start in zip(acl_requests, (0, 100, 200), strict=True):
        assert "q=roleAssignee" in request["query"]
        assert "state=APPROVED" in request["query"]
        assert "count=100" in request["query"]
        assert f"start={start}" in request["query"]
        assert "role=" not in request["query"]


def test_organization_acl_exact_page_stops_without_next_link(client, fake):
    for number in range(100):
        fake.add_organization(str(5000 + number), f"Page {number}")

    assert len(client.list_postable_organization_ids()) == 100
    assert len(fake.requests_to("organizationAcls")) == 1


def test_organization_acl_roles_filtered(client, fake):
    fake.add_organization("1", "Admin Page", "ADMINISTRATOR")
    fake.add_organization("2", "Content Page", "CONTENT_ADMINISTRATOR")
    fake.add_organization("3", "Sponsor Page", "DIRECT_SPONSORED_CONTENT_POSTER")
    fake.add_organization("4", "Analyst Page", "ANALYST")
    fake.add_organization("5", "Recruiter Page", "RECRUITING_POSTER")
    fake.add_organization("6", "Requested Page", "ADMINISTRATOR", state="REQUESTED")
    fake.add_organization("1", "Admin Page", "CONTENT_ADMINISTRATOR")  # a second role, same Page

    assert client.list_postable_organization_ids() == ["1", "2", "3"]


def test_organization_name_lookup(client, organization):
    assert client.get_organization_name("2414183") == "Acme Robotics"


def test_organization_name_rejects_non_numeric_id(client, fake):
    with pytest.raises(ValueError, match="digits"):
        client.get_organization_name("../me")
    assert fake.requests_to("organizations") == []


def test_organization_name_cache_expires(fake, access_token, organization):
    now = [1000.0]
    names = OrganizationNames(ttl_seconds=300, clock=lambda: now[0])
    client = LinkedInClient(access_token, fake.api_url, VERSION, timeout=TIMEOUT, organization_names=names)

    assert client.get_organization_name("2414183") == "Acme Robotics"
    fake.organizations["2414183"] = "Acme Robots Inc"
    now[0] += 299
    assert client.get_organization_name("2414183") == "Acme Robotics"
    assert len(fake.requests_to("organizations")) == 1

    now[0] += 2
    assert client.get_organization_name("2414183") == "Acme Robots Inc"
    assert len(fake.requests_to("organizations")) == 2


def test_organization_name_without_role_denied(client, fake):
    fake.add_organization("777", "Someone Else's Page", role=None)
    with pytest.raises(PermissionDenied) as caught:
        client.get_organization_name("777")
    assert caught.value.status == 403
    assert caught.value.code == "ACCESS_DENIED"


def test_member_text_post_body(client, fake, member_urn):
    created = client.create_post(member_urn, "Launch day. (Beta opens at noon.)")

    assert fake.create_requests == 1
    post = fake.posts[0]
    assert post.body == {
        "author": member_urn,
        "commentary": "Launch day. \\(Beta opens at noon.\\)",
        "visibility": "PUBLIC",
        "distribution": MAIN_FEED,
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    assert created.urn == post.urn
    assert created.urn.startswith("urn:li:share:")
    assert created.url == f"https://www.linkedin.com/feed/update/{created.urn}/"


def test_escaped_text_arrives_whole(client, fake, member_urn):
    text = "How to scale:\n\n1) Cut scope -- then hire\n2) Automate #growth (C# too) @team_lead ~50% *now*"
    client.create_post(member_urn, text)
    assert fake.posts[0].text == text


def test_unescaped_text_is_cut_by_fake(fake, access_token, member_urn):
    # What a client without escaping would get: a 201 and a shortened post.
    body = {
        "author": member_urn,
        "commentary": "Launch day. (Beta opens at noon.)",
        "visibility": "PUBLIC",
        "distribution": MAIN_FEED,
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    response = requests.post(f"{fake.api_url}/rest/posts", json=body, headers=_rest_headers(access_token), timeout=2)

    assert response.status_code == 201
    assert fake.posts[0].text == "Launch day. "


def test_long_text_never_truncated(fake, client, member_urn):
    fake.max_commentary_chars = 5000
    text = "word " * 700  # 3500 characters
    client.create_post(member_urn, text)
    assert fake.posts[0].text == text


def test_connections_visibility_for_member(client, fake, member_urn):
    client.create_post(member_urn, "Only for my network", visibility="CONNECTIONS")
    assert fake.posts[0].visibility == "CONNECTIONS"


def test_connections_visibility_for_page_rejected(client, fake, organization):
    with pytest.raises(ValueError, match="CONNECTIONS"):
        client.create_post(organization, "Hello", visibility="CONNECTIONS")
    assert fake.create_requests == 0


def test_invalid_author_rejected(client, fake):
    with pytest.raises(ValueError, match="author URN"):
        client.create_post("urn:li:company:1", "Hello")
    assert fake.requests == []


def test_page_post_without_role_denied(client, fake):
    fake.add_organization("999", "Not Mine", role="ANALYST")
    with pytest.raises(PermissionDenied):
        client.create_post("urn:li:organization:999", "Hello")
    assert fake.posts == []


def test_single_image_post(client, fake, organization):
    client.create_post(organization, "New robot", images=[(png_bytes(1200, 627), "A robot arm")])

    post = fake.posts[0]
    image_urn = post.body["content"]["media"]["id"]
    assert post.body["content"] == {"media": {"id": image_urn, "altText": "A robot arm"}}
    assert fake.images[image_urn].owner == organization
    assert fake.images[image_urn].content_type == "image/png"
    assert fake.images[image_urn].status == "AVAILABLE"


def test_multi_image_post_body(client, fake, member_urn):
    images = [(png_bytes(), "first"), (jpeg_bytes(), "second"), (gif_bytes(), "third")]
    client.create_post(member_urn, "Three pictures", images=images)

    content = fake.posts[0].body["content"]
    entries = content["multiImage"]["images"]
    assert set(content) == {"multiImage"}
    assert [entry["altText"] for entry in entries] == ["first", "second", "third"]
    assert all(fake.images[entry["id"]].owner == member_urn for entry in entries)
    assert len({entry["id"] for entry in entries}) == 3


def test_image_polled_until_available(client, fake, member_urn, sleep):
    fake.image_processing_polls = 3
    image_urn = client.upload_image(member_urn, png_bytes())

    polls = fake.requests_to("images.get")
    assert len(polls) == 4
    assert polls[0]["path"] == "/rest/images/" + image_urn.replace(":", "%3A")
    assert sleep.calls == [1.0, 1.0, 1.0]
    assert fake.images[image_urn].status == "AVAILABLE"


def test_image_upload_carries_bearer(client, fake, member_urn):
    client.upload_image(member_urn, jpeg_bytes())
    assert len(fake.requests_to("images.upload")) == 1
    # The fake returns 401 to an upload without a valid bearer token, so the image
    # would still be WAITING_UPLOAD.
    assert all(image.status == "AVAILABLE" for image in fake.images.values())


def test_image_processing_failed(client, fake, member_urn):
    fake.image_processing_result = "PROCESSING_FAILED"
    with pytest.raises(ImageProcessingFailed):
        client.create_post(member_urn, "Broken picture", images=[(png_bytes(), "alt")])
    assert fake.create_requests == 0


def test_image_processing_timeout(fake, access_token, member_urn, sleep):
    fake.image_processing_polls = 1000
    client = LinkedInClient(
        access_token, fake.api_url, VERSION, timeout=TIMEOUT, sleep=sleep,
        image_poll_interval=0.5, image_poll_timeout=2.0,
    )
    with pytest.raises(ImageProcessingTimeout):
        client.upload_image(member_urn, png_bytes())
    assert sum(sleep.calls) == 2.0


def test_wrong_magic_bytes_rejected_before_upload(client, fake, member_urn):
    with pytest.raises(InvalidImage):
        client.create_post(member_urn, "Hello", images=[(png_bytes(), "ok"), (b"RIFF....WEBPVP8 ", "webp")])

    assert fake.requests_to("images.initializeUpload") == []
    assert fake.create_requests == 0


def test_too_many_pixels_rejected_before_upload(client, fake, member_urn):
    with pytest.raises(InvalidImage, match="pixels"):
        client.upload_image(member_urn, png_bytes(8000, 6000))
    assert fake.requests == []


def test_upload_url_on_foreign_host_not_used(client, fake, member_urn):
    fake.script("images.initializeUpload", {
        "status": 200,
        "body": {"value": {"uploadUrl": "https://uploads.example.com/x", "image": "urn:li:image:X1"}},
    })
    with pytest.raises(LinkedInError) as caught:
        client.upload_image(member_urn, png_bytes())
    assert caught.value.code == "UNEXPECTED_UPLOAD_HOST"
    assert fake.requests_to("images.upload") == []


def test_fake_rejects_image_of_other_owner(fake, access_token, member_urn, organization):
    headers = _rest_headers(access_token)
    init = requests.post(
        f"{fake.api_url}/rest/images?action=initializeUpload",
        json={"initializeUploadRequest": {"owner": member_urn}}, headers=headers, timeout=2,
    ).json()["value"]
    requests.put(init["uploadUrl"], data=png_bytes(), headers={"Authorization": headers["Authorization"]}, timeout=2)
    body = {
        "author": organization,
        "commentary": "Page post with the member's image",
        "visibility": "PUBLIC",
        "distribution": MAIN_FEED,
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        "content": {"media": {"id": init["image"], "altText": "x"}},
    }
    response = requests.post(f"{fake.api_url}/rest/posts", json=body, headers=headers, timeout=2)

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_CONTENT_OWNERSHIP"
    assert fake.posts == []


def test_recent_organization_posts(client, fake, organization):
    first = client.create_post(organization, "First (one)")
    second = client.create_post(organization, "Second")
    fake.posts[0].created_at_ms -= 1000  # make the order unambiguous

    posts = client.recent_organization_posts(organization, count=5)

    assert [post.urn for post in posts] == [second.urn, first.urn]
    assert posts[1].commentary == to_commentary("First (one)")
    assert all(isinstance(post.created_at_ms, int) for post in posts)
    query = fake.requests_to("posts.list")[0]["query"]
    assert "q=author" in query
    assert "author=urn%3Ali%3Aorganization%3A2414183" in query
    assert "count=5" in query
    assert "sortBy=LAST_MODIFIED" in query


def test_post_url():
    assert post_url("urn:li:share:123") == "https://www.linkedin.com/feed/update/urn:li:share:123/"


def _rest_headers(access_token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": VERSION,
        "X-Restli-Protocol-Version": "2.0.0",
    }
