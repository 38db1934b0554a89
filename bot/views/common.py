"""Small pure helpers shared by Block Kit views: escaping, shortening, times, buttons.

Nothing here calls Slack or the database. Text shown in Slack is the user's raw text,
never LinkedIn's escaped commentary, with only Slack's mrkdwn control characters escaped.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Slack's limits (Block Kit reference): 100 blocks in a Home tab or modal, 3,000 characters
# in a section's text, 75 in a button's text.
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_BUTTON_TEXT = 75


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with an ellipsis when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def zone(name: str | None) -> ZoneInfo:
    """Return the IANA zone `name`, or UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime, timezone: str | None) -> datetime:
    return moment.astimezone(zone(timezone))


def format_day(moment: datetime, timezone: str | None) -> str:
    """Format the day of `moment` in `timezone`, such as "Monday, January 4, 2027"."""
    local = local_time(moment, timezone)
    return f"{local:%A}, {local:%B} {local.day}, {local.year}"


def format_time(moment: datetime, timezone: str | None) -> str:
    """Format the time of day of `moment` in `timezone`, such as "14:30 CET"."""
    local = local_time(moment, timezone)
    return f"{local:%H:%M} {local.tzname()}"


def format_date_time(moment: datetime, timezone: str | None) -> str:
    """Format `moment` in `timezone`, such as "Mon, Jan 4, 2027 at 14:30 CET"."""
    local = local_time(moment, timezone)
    return f"{local:%a}, {local:%b} {local.day}, {local.year} at {local:%H:%M} {local.tzname()}"


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": shorten(text, MAX_SECTION_TEXT) if len(text) > MAX_SECTION_TEXT else text}


def section(text: str, accessory: dict | None = None, block_id: str | None = None) -> dict:
    block: dict = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id is not None:
        block["block_id"] = block_id
    return block


def context(text: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(text)]}


def header(text: str) -> dict:
    return {"type": "header", "text": plain(shorten(text, 150))}


def divider() -> dict:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str | None = None, *, style: str | None = None, url: str | None = None, confirm: dict | None = None) -> dict:
    element: dict = {"type": "button", "text": plain(shorten(text, MAX_BUTTON_TEXT)), "action_id": action_id}
    if value is not None:
        element["value"] = value
    if style is not None:
        element["style"] = style
    if url is not None:
        element["url"] = url
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(elements: list[dict], block_id: str | None = None) -> dict:
    block: dict = {"type": "actions", "elements": elements}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def confirm_dialog(title: str, text: str, confirm: str, deny: str = "Cancel", style: str = "danger") -> dict:
    return {
        "title": plain(title),
        "text": mrkdwn(text),
        "confirm": plain(confirm),
        "deny": plain(deny),
        "style": style,
    }
