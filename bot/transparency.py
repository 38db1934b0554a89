"""The public page GET /linkedin-integration: what the app does with LinkedIn, and why.

LinkedIn reviews apps of the Community Management API against a page like this one. The
scopes and stored fields come from the constants the code uses (`REQUESTED_SCOPES`,
`SCOPE_PURPOSES`, `STORED_LINKEDIN_FIELDS`), so the page cannot drift from the code.
Every value is HTML-escaped.
"""

from __future__ import annotations

import html

from bot.views.connection import SECURITY_HEADERS, WebResponse
from linkedin import REQUESTED_SCOPES, SCOPE_PURPOSES
from storage.connections import STORED_LINKEDIN_FIELDS


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def transparency_html(public_url: str) -> str:
    escape = html.escape
    scopes = [f"<code>{escape(scope)}</code>: {escape(SCOPE_PURPOSES.get(scope, ''))}" for scope in REQUESTED_SCOPES]
    fields = [f"<code>{escape(name)}</code>: {escape(purpose)}" for name, purpose in STORED_LINKEDIN_FIELDS]
    steps = [
        "You connect your LinkedIn account from Slack with <code>/linkedin connect</code>, on LinkedIn's own sign-in page.",
        "You draft a post in Slack, with an AI assistant or by hand. AI output is only ever a draft.",
        "You approve the exact text, images, author (your profile or a Page you manage) and time.",
        "At that time the app publishes that approved post. Any edit voids the approval until you approve again.",
    ]
    sections = [
        "<h1>How this app uses LinkedIn</h1>",
        "<p>This Slack app helps people in a company write LinkedIn posts and publish them on their "
        "own profile or on the company's LinkedIn Pages. Nothing is published without the "
        "author's explicit approval of that exact post and time.</p>",
        "<h2>Publishing flow</h2>",
        "<ol>" + "".join(f"<li>{step}</li>" for step in steps) + "</ol>",
        "<h2>Permissions requested, and why</h2>",
        _list(scopes),
        "<h2>LinkedIn data stored</h2>",
        "<p>Only these values, and nothing else read from LinkedIn:</p>",
        _list(fields),
        "<p>Tokens are encrypted with AES-256-GCM inside the app before they reach the database, "
        "and never appear in logs or error messages. Page names are looked up when shown and kept "
        "in memory for a few minutes only.</p>",
        "<h2>Disconnecting</h2>",
        "<p>Disconnecting (the button in the app's Home tab or <code>/linkedin disconnect</code>) "
        "deletes all of the LinkedIn data above at once and for good, asks LinkedIn to revoke the "
        "token, and turns your scheduled posts back into drafts. <code>/linkedin delete-my-data</code> "
        "also deletes your drafts, post history and AI profile. You can also remove the app's access "
        "in your LinkedIn settings.</p>",
        f"<p><small>{escape(public_url)}</small></p>",
    ]
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>LinkedIn integration</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;line-height:1.5}</style>"
        "</head><body>" + "".join(sections) + "</body></html>"
    )


def transparency_page(settings) -> WebResponse:
    headers = [header for header in SECURITY_HEADERS if header[0] != "Cache-Control"]
    return WebResponse(200, [*headers, ("Cache-Control", "public, max-age=300")], transparency_html(settings.public_base).encode())
