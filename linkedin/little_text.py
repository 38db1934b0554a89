"""Conversion of a user's text into LinkedIn's "little text" commentary format.

LinkedIn parses a post's `commentary` as little text, where `\\ | { } @ [ ] ( ) < > # * _ ~`
are reserved. An unescaped reserved character can make LinkedIn silently cut the post at
that point while still returning 201, so every reserved character is escaped with a
backslash. The one exception is a hashtag, which stays live so LinkedIn links it.

This module must never change anything else: line breaks, emoji, accents, URLs and every
other character pass through unchanged, and the text is never shortened.
"""

from __future__ import annotations

RESERVED_CHARS = frozenset("\\|{}@[]()<>#*_~")

# Help-centre limit for a post. LinkedIn's Posts API documents no number, and whether
# escapes count towards it is not documented, so callers should leave some headroom.
MAX_POST_CHARS = 3000


def to_commentary(text: str) -> str:
    """Escape `text` as little text, keeping hashtags live.

    A `#` stays unescaped when it starts the text or follows whitespace and is followed by
    letters or digits that include at least one letter (`#launch`, `#AI2027`). The hashtag
    ends at the first other character, which is then escaped like anywhere else.
    """
    parts: list[str] = []

    # One pass over the text, so each character is escaped exactly once and the backslash
    # added for an escape is never escaped again.
    for index, char in enumerate(text):
        if char == "#" and _starts_hashtag(text, index):
            parts.append(char)
        elif char in RESERVED_CHARS:
            parts.append("\\" + char)
        else:
            parts.append(char)

    return "".join(parts)


def count_chars(text: str) -> int:
    """Count the Unicode code points of the text as written, before escaping."""
    return len(text)


def _starts_hashtag(text: str, index: int) -> bool:
    if index > 0 and not text[index - 1].isspace():
        return False

    has_letter = False
    for char in text[index + 1 :]:
        if char.isalpha():
            has_letter = True
        elif not char.isdecimal():
            break
    return has_letter
