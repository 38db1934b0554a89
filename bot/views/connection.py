"""Views of the connect and disconnect flows: Slack messages and the small HTML pages.

Pure functions. Every value put into HTML is escaped, and every value put into mrkdwn has
Slack's control characters escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from bot.views.common import (
    actions,
    button,
    confirm_dialog,
    context,
    escape_mrkdwn,
    format_day,
    plain,
    section,
)

CONNECT_LINK_ACTION = "linkedin_connect_link"
DELETE_MY_DATA_ACTION = "delete_my_data_confirm"
SECURITY_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
]


@dataclass
class WebResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def html_page(status: int, title: str, message: str, extra_headers: list[tuple[str, str]] | None = None) -> WebResponse:
    """Return a short HTML page with `title` and `message`, both escaped."""
    body = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return WebResponse(status, [*SECURITY_HEADERS, *(extra_headers or [])], body.encode())


def connect_blocks(url: str) -> list[dict]:
    """Build the message with a link button that starts connecting LinkedIn."""
    return [
        section(
            "Connect your LinkedIn account to publish the posts you approve. "
            "The link works for 10 minutes and only for you.",
            accessory=button("Connect LinkedIn", CONNECT_LINK_ACTION, url=url, style="primary"),
        ),
        context("Nothing is ever published without your approval of the exact text and time."),
    ]


def connect_modal(url: str) -> dict:
    """Build a small modal with a fresh connect link, opened from the Home tab."""
    return {
        "type": "modal",
        "callback_id": "linkedin_connect",
        "title": plain("Connect LinkedIn"),
        "close": plain("Close"),
        "blocks": connect_blocks(url),
    }


def status_text(connection, timezone: str) -> str:
    """Describe a connection row (or None) for `/linkedin status`."""
    if connection is None:
        return "LinkedIn is not connected. Run `/linkedin connect` to connect it."
    lines = [f"Connected as *{escape_mrkdwn(connection.member_name)}*."]
    pages = list(connection.organization_ids or [])
    if pages:
        lines.append(f"You may post for {len(pages)} LinkedIn page(s).")
    if not {"w_organization_social", "rw_organization_admin"} <= set(connection.scopes or []):
        lines.append("Posts go to your own profile only: LinkedIn did not grant the Page permissions.")
    if connection.access_token_expires_at is not None:
        lines.append(f"Access expires on {format_day(connection.access_token_expires_at, timezone)}. Connect again before then.")
    return "\n".join(lines)


def delete_my_data_blocks() -> list[dict]:
    return [
        section(
            "*Delete all your data?* This deletes your LinkedIn connection, drafts, scheduled and "
            "published post records, AI profile, conversations and history in this app. "
            "Posts already on LinkedIn stay there."
        ),
        actions(
            [
                button(
                    "Delete my data",
                    DELETE_MY_DATA_ACTION,
                    "confirm",
                    style="danger",
                    confirm=confirm_dialog("Delete all your data?", "This cannot be undone.", "Delete"),
                )
            ],
            block_id="delete_my_data",
        ),
    ]


def erased_message(counts: dict[str, int]) -> str:
    labels = {
        "linkedin_connections": "LinkedIn connection",
        "posts": "posts and drafts",
        "ai_profiles": "AI profile",
        "conversation_turns": "conversation messages",
        "slack_users": "Slack settings",
        "oauth_states": "pending sign-ins",
        "tasks": "background tasks",
        "audit_log": "history entries",
    }
    removed = [f"{labels.get(name, name)}: {count}" for name, count in counts.items() if count]
    if not removed:
        return "There was no data of yours to delete."
    return "Your data is deleted. Removed " + "; ".join(removed) + ". Posts already on LinkedIn stay there."
