"""Escaping of the user's text into little text, checked against the fake's renderer."""

from __future__ import annotations

import pytest

from linkedin.little_text import MAX_POST_CHARS, RESERVED_CHARS, count_chars, to_commentary
from tests.fakes.linkedin_server import render_commentary

RESERVED_EXCEPT_HASH = sorted(RESERVED_CHARS - {"#"})


def test_parentheses_sentence_escaped():
    assert to_commentary("Launch day. (Beta opens at noon.)") == "Launch day. \\(Beta opens at noon.\\)"


def test_numbered_list_escaped():
    text = "How to scale:\n\n1) Cut scope -- then hire\n2) Automate"
    expected = "How to scale:\n\n1\\) Cut scope -- then hire\n2\\) Automate"
    assert to_commentary(text) == expected


@pytest.mark.parametrize("char", RESERVED_EXCEPT_HASH)
def test_reserved_char_alone(char):
    assert to_commentary(char) == "\\" + char


@pytest.mark.parametrize("char", RESERVED_EXCEPT_HASH)
def test_reserved_char_doubled(char):
    assert to_commentary(char * 2) == ("\\" + char) * 2


@pytest.mark.parametrize("char", sorted(RESERVED_CHARS))
def test_reserved_char_after_backslash(char):
    # The backslash is escaped once and the character once, never the added backslash.
    assert to_commentary("\\" + char) == "\\\\" + "\\" + char


@pytest.mark.parametrize("char", sorted(RESERVED_CHARS))
def test_reserved_char_before_backslash(char):
    assert to_commentary(char + "\\") == "\\" + char + "\\\\"


def test_hash_alone_and_doubled():
    assert to_commentary("#") == "\\#"
    assert to_commentary("##") == "\\#\\#"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#launch", "#launch"),
        ("#AI2027", "#AI2027"),
        ("We ship #launch today", "We ship #launch today"),
        ("line one\n#tag", "line one\n#tag"),
        ("#café", "#café"),
        ("#日本", "#日本"),
        ("C#", "C\\#"),
        ("#123", "\\#123"),
        ("(#tag)", "\\(\\#tag\\)"),
        ("#a_b", "#a\\_b"),
        ("#tag!", "#tag!"),
        ("x#tag", "x\\#tag"),
        ("# tag", "\\# tag"),
    ],
)
def test_hashtag_cases(text, expected):
    assert to_commentary(text) == expected


def test_at_sign_always_escaped():
    assert to_commentary("@[Ada](urn:li:person:1)") == "\\@\\[Ada\\]\\(urn:li:person:1\\)"
    assert to_commentary("mail me@example.com") == "mail me\\@example.com"


@pytest.mark.parametrize(
    "text",
    [
        "Grüße aus Köln, ça va? 🚀👩‍💻",
        "first -- second — third",
        "https://example.com/path?x=1&y=2",
        "line\nbreak\r\nand\ttab",
        "",
    ],
)
def test_other_text_unchanged(text):
    assert to_commentary(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Launch day. (Beta opens at noon.)",
        "How to scale:\n\n1) Cut scope -- then hire\n2) Automate",
        "C# and F# devs: see [docs] <here> *now* _please_ ~ok~ {x|y} @team \\o/",
        "#launch (#tag) #a_b #123 https://example.com/a_b#frag",
        "\\\\(\\)",
    ],
)
def test_rendered_commentary_equals_text(text):
    # The fake renders little text like LinkedIn, so this proves nothing would be cut.
    assert render_commentary(to_commentary(text)) == text


def test_fake_cuts_unescaped_text():
    assert render_commentary("Launch day. (Beta opens at noon.)") == "Launch day. "
    assert render_commentary("We ship #launch (today)") == "We ship #launch "


def test_count_chars_counts_code_points():
    assert count_chars("héllo 👋") == 7
    assert count_chars("a(b)") == 4  # as written, before escaping
    assert MAX_POST_CHARS == 3000
