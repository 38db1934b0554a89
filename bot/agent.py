"""The AI drafting agent: one Chat Completions call that turns a conversation into a draft.

The agent only writes text. It must never approve, schedule or publish anything. Its output
goes through `storage.posts.revise_from_agent` like any other edit, and its owner approves
the result by hand. Neither the prompt nor a log line carries a token; log lines never carry
the post's text or the user's messages either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import openai

from storage.posts import MAX_TEXT_CHARS
from storage.profiles import ProfileFields

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0

# Structured output: the model must respond with exactly these two properties.
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "linkedin_draft",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "The full LinkedIn post, plain text."},
                "media_suggestions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Ideas for images or media to attach; may be empty.",
                },
            },
            "required": ["text", "media_suggestions"],
            "additionalProperties": False,
        },
    },
}

RULES = f"""You draft LinkedIn posts for the person described below, and revise them when they ask.
Rules:
- Answer with the complete post each time, never a fragment or a list of options.
- Plain text only: no Markdown, no asterisks or underscores for emphasis, no headings. Line breaks and emoji are fine.
- At most {MAX_TEXT_CHARS:,} characters. Hashtags are allowed.
- Write in the language given below, whatever language the request is in.
- Never say that you posted, scheduled or published anything: the person reviews and approves every post themselves.
- Put ideas for images or other media in media_suggestions, not in the post."""

PROFILE_LABELS = (
    ("role", "Their role"),
    ("company", "Their company"),
    ("company_description", "What the company does"),
    ("audience", "Audience of the posts"),
    ("tone", "Tone"),
    ("language", "Language of the posts"),
    ("avoid_topics", "Topics to avoid"),
    ("example_posts", "Example posts they like"),
)


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class AgentReply:
    text: str
    media_suggestions: list[str]


class AgentError(Exception):
    """The model gave no usable draft. `str()` is a message fit to show the user."""


class AgentNotConfigured(AgentError):
    def __init__(self) -> None:
        super().__init__("AI drafting is not configured on this app (OPENAI_API_KEY is not set).")


def system_prompt(profile: ProfileFields) -> str:
    """Build the system message from the rules and the user's AI profile."""
    lines = [RULES, "", "About the person:"]
    for name, label in PROFILE_LABELS:
        value = (getattr(profile, name) or "").strip()
        if name == "language":
            value = value or "English"
        if value:
            lines.append(f"- {label}: {value}")
    return "\n".join(lines)


def build_messages(profile: ProfileFields, turns: Sequence[Turn]) -> list[dict]:
    """Build the Chat Completions messages: the system prompt, then every stored turn.

    Assistant turns are stored as the JSON the model returned, so the model gets its own
    earlier drafts in the same shape it must respond in.
    """
    messages = [{"role": "system", "content": system_prompt(profile)}]
    messages += [{"role": turn.role, "content": turn.content} for turn in turns]
    return messages


def encode_reply(reply: AgentReply) -> str:
    """Return the assistant turn to store for `reply`."""
    return json.dumps({"text": reply.text, "media_suggestions": reply.media_suggestions}, ensure_ascii=False)


class Agent:
    """A Chat Completions client with the product's prompt, timeout and error messages."""

    def __init__(self, api_key: str, base_url: str | None, model: str, timeout: float = DEFAULT_TIMEOUT_SECONDS, max_retries: int = 0):
        self.model = model
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout, max_retries=max_retries)

    def __repr__(self) -> str:
        return f"Agent(model={self.model!r})"

    def draft(self, profile: ProfileFields, turns: Sequence[Turn]) -> AgentReply:
        """Ask the model for the next draft. Raises AgentError with a message for the user."""
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=build_messages(profile, turns),
                response_format=RESPONSE_FORMAT,
            )
        except openai.APIError as error:
            raise classify_error(error) from error
        return parse_completion(completion)


def classify_error(error: openai.APIError) -> AgentError:
    """Turn an OpenAI client error into a message that states what happened and what to do."""
    retry = "Your conversation and the current draft are unchanged; reply in this thread to try again."
    if isinstance(error, openai.APITimeoutError):
        logger.warning("the AI model timed out")
        return AgentError(f"The AI model timed out. {retry}")
    if isinstance(error, openai.APIConnectionError):
        logger.warning("the AI model could not be reached: %s", type(error).__name__)
        return AgentError(f"The AI model could not be reached. {retry}")
    if isinstance(error, openai.RateLimitError):
        logger.warning("the AI model is rate limited")
        return AgentError("The AI model is busy right now. Wait a minute, then reply in this thread to try again. The draft is unchanged.")
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        logger.error("the AI model rejected the API key (status %s)", error.status_code)
        return AgentError("The AI model rejected this app's API key. Ask whoever runs the app to check OPENAI_API_KEY. Meanwhile you can write the post by hand.")
    status = getattr(error, "status_code", None)
    logger.error("the AI model call failed: %s (status %s)", type(error).__name__, status)
    return AgentError(f"The AI model returned an error. {retry}")


def parse_completion(completion) -> AgentReply:
    """Read the structured response, or raise AgentError when there is none."""
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice else None
    if message is None or getattr(message, "refusal", None):
        logger.warning("the AI model returned a refusal instead of a draft")
        return _raise("The AI model declined to write this post. Reply with a different request, or write the post by hand.")
    if choice.finish_reason == "length":
        logger.warning("the AI model response was cut off by its length limit")
        return _raise("The AI model's response was cut off. Reply asking for a shorter post.")
    try:
        data = json.loads(message.content or "")
        text = data["text"]
        suggestions = [str(item) for item in data.get("media_suggestions") or []]
    except (ValueError, KeyError, TypeError) as error:
        logger.warning("the AI model response was not the expected JSON: %s", type(error).__name__)
        return _raise("The AI model's response could not be read. Reply in this thread to try again.")
    if not isinstance(text, str) or not text.strip():
        return _raise("The AI model returned an empty post. Reply in this thread with more detail.")
    return AgentReply(text=text.strip(), media_suggestions=suggestions)


def _raise(message: str) -> AgentReply:
    raise AgentError(message)


def build_agent(settings, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Agent:
    """Build the agent from Settings. Raises AgentNotConfigured without OPENAI_API_KEY."""
    if not settings.ai_enabled:
        raise AgentNotConfigured()
    return Agent(settings.openai_api_key, settings.openai_base_url, settings.openai_model, timeout=timeout)
