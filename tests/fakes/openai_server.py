"""Fake OpenAI Chat Completions API served over real HTTP on 127.0.0.1 for tests.

``openai.OpenAI(base_url=fake.base_url, api_key=...)`` talks to it unchanged. For each
``POST /v1/chat/completions`` the fake:

1. checks ``Authorization: Bearer <key>`` (401 in OpenAI's error shape otherwise),
2. records the request body in ``requests``,
3. serves an injected failure if one is queued (500, 429 or a hang),
4. checks ``model``, ``messages`` and a strict ``json_schema`` response format as OpenAI
   does (400 otherwise),
5. gets the reply from the responder and, under a JSON schema, checks the reply against it.

``python -m tests.fakes.openai_server --port N`` runs it as its own process, driven through
JSON endpoints under ``/_fake/``. The fake sends no request to api.openai.com.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "sk-test-key"
RESERVED_CHARACTER_SAMPLE = "(beta) #launch 🚀"
MAX_BRIEF_CHARACTERS = 300
ROLES = ("system", "developer", "user", "assistant", "tool")
SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class Reply:
    """One scripted completion: ``content`` (a dict is sent as JSON text) or a ``refusal``."""

    content: Any = None
    refusal: str | None = None
    finish_reason: str = "stop"


Responder = Callable[[dict[str, Any]], Any]


class OpenAIError(Exception):
    """An error response in OpenAI's ``{"error": {...}}`` shape."""

    def __init__(self, status: int, message: str, error_type: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        self.headers: dict[str, str] = {}


class FakeOpenAI:
    """Fake ``/v1/chat/completions`` on a loopback port with a pluggable responder.

    For a JSON schema request the default responder returns a value built from the
    schema: a ``text`` property gets a draft quoting the last user message plus
    ``RESERVED_CHARACTER_SAMPLE``, a ``media_suggestions`` array gets one suggestion, and
    other properties get placeholder values of their type. Without a schema it returns the
    draft as plain text.
    """

    def __init__(self, port: int = 0, api_keys: Sequence[str] = (DEFAULT_API_KEY,)):
        self._requested_port = port
        self.api_keys = set(api_keys)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self._counter = itertools.count(1)

        self._requests: list[dict[str, Any]] = []
        self._script: list[Any] = []
        self._responder: Responder | None = None
        self._failures: list[tuple[str, float]] = []
        self.errors: list[str] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeOpenAI:
        """Bind 127.0.0.1 and serve on a daemon thread. Returns self."""
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self._requested_port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-openai-{self.port}", daemon=True).start()
        logger.info("Fake OpenAI started at %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # Ends injected hangs at once.
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        logger.info("Fake OpenAI stopped")

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started: call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, for ``OpenAI(base_url=...)`` and ``OPENAI_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ test setup

    def respond_with(self, responder: Responder | Sequence[Any] | dict[str, Any] | str | Reply) -> None:
        """Set how the next completions are produced.

        A callable gets each request body and returns a dict, str or ``Reply`` for every
        request. A list or tuple is used one item per request (each a dict, str, ``Reply``
        or callable) and then the default responder takes over. A single dict, str or
        ``Reply`` is the reply to every request.
        """
        with self._lock:
            self._script = []
            self._responder = None
            if isinstance(responder, (list, tuple)):
                self._script = list(responder)
            elif callable(responder):
                self._responder = responder
            else:
                fixed = responder
                self._responder = lambda request: fixed

    def reset_responder(self) -> None:
        with self._lock:
            self._script = []
            self._responder = None

    def fail_next(self, status: int = 500, times: int = 1) -> None:
        """Reply to the next ``times`` requests with HTTP ``status`` and an OpenAI error body."""
        with self._lock:
            self._failures.extend([("status", float(status))] * times)

    def rate_limit_next(self, times: int = 1, retry_after: float = 0) -> None:
        """Reply to the next ``times`` requests with 429 ``rate_limit_exceeded``."""
        with self._lock:
            self._failures.extend([("rate_limit", float(retry_after))] * times)

    def hang_next(self, seconds: float = 30, times: int = 1) -> None:
        """Hold the next ``times`` requests for ``seconds`` before replying normally.

        Set ``seconds`` above the client's timeout to test timeouts. ``stop()`` ends a hang.
        """
        with self._lock:
            self._failures.extend([("hang", float(seconds))] * times)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of every authenticated request body, oldest first."""
        with self._lock:
            return json.loads(json.dumps(self._requests))

    def wait_for_requests(self, count: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        """Poll until ``count`` requests arrived. Raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.requests
            if len(seen) >= count:
                return seen
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {count} request(s): {len(seen)} arrived")
            time.sleep(0.02)

    # ------------------------------------------------------------------ request handling

    def _handle_completion(self, auth_header: str, raw_body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            self._check_api_key(auth_header)
            request = _parse_json(raw_body)
            with self._lock:
                self._requests.append(request)
                failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                self._serve_failure(*failure)
            _validate_request(request)
            content, refusal, finish_reason = self._reply_for(request)
        except OpenAIError as error:
            return error.status, error.body, error.headers
        return 200, self._completion(request, content, refusal, finish_reason), {"x-request-id": f"req_fake{next(self._counter)}"}

    def _check_api_key(self, auth_header: str) -> None:
        if not auth_header.startswith("Bearer ") or not auth_header[len("Bearer ") :].strip():
            raise OpenAIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            )
        key = auth_header[len("Bearer ") :].strip()
        if key not in self.api_keys:
            masked = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "****"
            raise OpenAIError(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )

    def _serve_failure(self, kind: str, amount: float) -> None:
        if kind == "hang":
            self._stopping.wait(amount)
            return
        if kind == "rate_limit":
            error = OpenAIError(
                429,
                "Rate limit reached for requests. Please try again shortly.",
                "requests",
                code="rate_limit_exceeded",
            )
            error.headers["retry-after"] = str(int(amount))
            raise error
        raise OpenAIError(int(amount), "The server had an error while processing your request. Sorry about that!", "server_error")

    def _reply_for(self, request: dict[str, Any]) -> tuple[str | None, str | None, str]:
        with self._lock:
            scripted = self._script.pop(0) if self._script else None
            responder = self._responder
        if scripted is not None:
            reply = scripted(request) if callable(scripted) else scripted
        elif responder is not None:
            reply = responder(request)
        else:
            reply = default_reply(request)

        if not isinstance(reply, Reply):
            reply = Reply(content=reply)
        if reply.refusal is not None:
            return None, reply.refusal, reply.finish_reason

        schema = _json_schema(request)
        if schema is not None and isinstance(reply.content, (dict, list)):
            problems = schema_mismatches(reply.content, schema["schema"], schema["schema"])
            if problems:
                message = f"fake responder returned content that does not match the schema: {problems}"
                with self._lock:
                    self.errors.append(message)
                raise OpenAIError(500, message, "server_error")
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content, ensure_ascii=False)
        return content, None, reply.finish_reason

    def _completion(self, request: dict[str, Any], content: str | None, refusal: str | None, finish_reason: str) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
        completion_tokens = len((content or refusal or "").split())
        return {
            "id": f"chatcmpl-fake{next(self._counter)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }


# ---------------------------------------------------------------------- request checks


def _parse_json(raw_body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(raw_body or b"")
    except ValueError as error:
        raise OpenAIError(400, f"We could not parse the JSON body of your request: {error}", "invalid_request_error") from error
    if not isinstance(request, dict):
        raise OpenAIError(400, "The request body must be a JSON object.", "invalid_request_error")
    return request


def _validate_request(request: dict[str, Any]) -> None:
    if not request.get("model"):
        raise OpenAIError(400, "you must provide a model parameter", "invalid_request_error")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(400, "Missing required parameter: 'messages'.", "invalid_request_error", "missing_required_parameter", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise OpenAIError(400, f"Invalid value for 'messages[{index}].role'.", "invalid_request_error", "invalid_value", f"messages[{index}].role")
        if "content" not in message and message.get("role") != "assistant":
            raise OpenAIError(400, f"Missing required parameter: 'messages[{index}].content'.", "invalid_request_error", "missing_required_parameter", f"messages[{index}].content")

    response_format = request.get("response_format")
    if response_format is None:
        return
    if response_format.get("type") not in ("text", "json_object", "json_schema"):
        raise OpenAIError(400, "Invalid value for 'response_format.type'.", "invalid_request_error", "invalid_value", "response_format.type")
    if response_format["type"] == "json_schema":
        _validate_json_schema_format(response_format.get("json_schema"))


def _validate_json_schema_format(json_schema: Any) -> None:
    if not isinstance(json_schema, dict) or not isinstance(json_schema.get("schema"), dict):
        raise OpenAIError(400, "Missing required parameter: 'response_format.json_schema'.", "invalid_request_error", "missing_required_parameter", "response_format.json_schema")
    name = json_schema.get("name", "")
    if not SCHEMA_NAME.match(str(name)):
        raise OpenAIError(400, f"Invalid 'response_format.json_schema.name': {name!r} must match ^[a-zA-Z0-9_-]{{1,64}}$.", "invalid_request_error", "invalid_value", "response_format.json_schema.name")
    if json_schema.get("strict"):
        problems = strict_schema_problems(json_schema["schema"])
        if problems:
            raise OpenAIError(400, f"Invalid schema for response_format '{name}': {problems[0]}", "invalid_request_error", "invalid_json_schema", "response_format")


def _json_schema(request: dict[str, Any]) -> dict[str, Any] | None:
    response_format = request.get("response_format") or {}
    return response_format.get("json_schema") if response_format.get("type") == "json_schema" else None


def strict_schema_problems(schema: dict[str, Any], context: str = "()") -> list[str]:
    """List why ``schema`` breaks OpenAI's strict structured-output rules.

    Checked: the root is an object, every object sets ``additionalProperties: false`` and
    lists all its properties in ``required``. NOTE: other strict-mode limits (nesting
    depth, property count, unsupported keywords) are not checked.
    """
    problems: list[str] = []
    if context == "()" and schema.get("type") != "object":
        problems.append("In context=(), schema must be a JSON Schema of 'type: \"object\"'.")

    types = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    if "object" in types:
        if schema.get("additionalProperties") is not False:
            problems.append(f"In context={context}, 'additionalProperties' is required to be supplied and to be false.")
        properties = schema.get("properties", {})
        missing = sorted(set(properties) - set(schema.get("required", [])))
        if missing:
            problems.append(f"In context={context}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing[0]}'.")
        for key, child in properties.items():
            problems += strict_schema_problems(child, f"{context}/properties/{key}")
    if isinstance(schema.get("items"), dict):
        problems += strict_schema_problems(schema["items"], f"{context}/items")
    for keyword in ("anyOf", "$defs", "definitions"):
        children = schema.get(keyword)
        for child in children.values() if isinstance(children, dict) else children or []:
            problems += strict_schema_problems(child, f"{context}/{keyword}")
    return problems


# ---------------------------------------------------------------------- schema values


def schema_mismatches(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> list[str]:
    """List where ``value`` does not match ``schema`` (type, enum, const, required,
    additionalProperties, items, anyOf and local ``$ref``)."""
    if "$ref" in schema:
        schema = _resolve_ref(schema["$ref"], root)
    if "anyOf" in schema:
        options = [schema_mismatches(value, option, root, path) for option in schema["anyOf"]]
        return [] if any(not option for option in options) else [f"{path}: matches no anyOf option"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} is not one of {schema['enum']}"]
    if "const" in schema and value != schema["const"]:
        return [f"{path}: {value!r} is not {schema['const']!r}"]

    types = schema.get("type")
    if isinstance(types, list):
        allowed = types
    else:
        allowed = [types] if types else []
    if allowed and not any(_is_type(value, name) for name in allowed):
        return [f"{path}: expected {'/'.join(allowed)}, got {type(value).__name__}"]

    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{path}: missing required {key!r}" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}: unexpected property {key!r}" for key in value if key not in properties]
        for key, child in properties.items():
            if key in value:
                problems += schema_mismatches(value[key], child, root, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += schema_mismatches(item, schema["items"], root, f"{path}[{index}]")
    return problems


def _is_type(value: Any, name: str) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return checks.get(name, lambda v: True)(value)


def _resolve_ref(reference: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in reference.lstrip("#/").split("/"):
        node = node[part]
    return node


def last_user_text(request: dict[str, Any]) -> str:
    """Return the text of the last ``user`` message, joining text parts of a content list."""
    for message in reversed(request.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content or "")
    return ""


def draft_text(request: dict[str, Any]) -> str:
    """Build the default draft: the brief (last user message, shortened) and reserved characters."""
    brief = " ".join(last_user_text(request).split())[:MAX_BRIEF_CHARACTERS]
    return f"Draft: {brief} {RESERVED_CHARACTER_SAMPLE}"


def default_reply(request: dict[str, Any]) -> Any:
    """Produce the deterministic default reply for ``request``, schema-shaped when asked."""
    schema = _json_schema(request)
    if schema is None:
        if (request.get("response_format") or {}).get("type") == "json_object":
            return {"text": draft_text(request), "media_suggestions": ["A photo of the team at the launch"]}
        return draft_text(request)
    return value_for_schema(schema["schema"], schema["schema"], request, "")


def value_for_schema(schema: dict[str, Any], root: dict[str, Any], request: dict[str, Any], name: str) -> Any:
    """Build a value that matches ``schema``. ``name`` is the property the value is for."""
    if "$ref" in schema:
        schema = _resolve_ref(schema["$ref"], root)
    if "anyOf" in schema:
        return value_for_schema(schema["anyOf"][0], root, request, name)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]

    types = schema.get("type")
    kind = next((t for t in types if t != "null"), "null") if isinstance(types, list) else types
    if kind == "object":
        return {key: value_for_schema(child, root, request, key) for key, child in schema.get("properties", {}).items()}
    if kind == "array":
        if name == "media_suggestions" and schema.get("items", {}).get("type") == "string":
            return ["A photo of the team at the launch"]
        return [value_for_schema(schema.get("items", {}), root, request, name)]
    if kind == "string":
        return draft_text(request) if name == "text" else f"sample {name or 'value'}"
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return None


# ---------------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        if self.path == "/_fake/requests":
            self._send_json(200, {"requests": self.fake.requests})
        elif self.path == "/_fake/health":
            self._send_json(200, {"ok": True, "base_url": self.fake.base_url})
        else:
            self._send_json(404, {"error": {"message": f"Unknown request URL: GET {self.path}.", "type": "invalid_request_error", "param": None, "code": "unknown_url"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""

        if self.path == "/v1/chat/completions":
            status, body, headers = self.fake._handle_completion(self.headers.get("Authorization", ""), raw_body)
            self._send_json(status, body, headers)
        elif self.path.startswith("/_fake/"):
            status, body = _control(self.fake, self.path[len("/_fake/") :], raw_body)
            self._send_json(status, body)
        else:
            self._send_json(404, {"error": {"message": f"Unknown request URL: POST {self.path}.", "type": "invalid_request_error", "param": None, "code": "unknown_url"}})

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up, for example after its timeout during an injected hang.
            logger.debug("Client closed the connection before the response was sent")


def _control(fake: FakeOpenAI, route: str, raw_body: bytes) -> tuple[int, Any]:
    """Serve the ``/_fake/`` POST endpoints that drive the fake from another process."""
    request = json.loads(raw_body) if raw_body else {}
    if route == "script":
        # An item {"reply": {"refusal": ..., "finish_reason": ...}} becomes a Reply, and any
        # other item is the message content.
        replies = [Reply(**item["reply"]) if isinstance(item, dict) and set(item) == {"reply"} else item for item in request["replies"]]
        fake.respond_with(replies)
        return 200, {"ok": True}
    if route == "fail":
        fake.fail_next(request.get("status", 500), request.get("times", 1))
        return 200, {"ok": True}
    if route == "rate_limit":
        fake.rate_limit_next(request.get("times", 1), request.get("retry_after", 0))
        return 200, {"ok": True}
    if route == "hang":
        fake.hang_next(request.get("seconds", 30), request.get("times", 1))
        return 200, {"ok": True}
    if route == "reset":
        fake.reset_responder()
        fake.clear_requests()
        return 200, {"ok": True}
    return 404, {"error": f"unknown control endpoint POST /_fake/{route}"}


def main(argv: list[str] | None = None) -> None:
    """Run the fake in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="Run the fake OpenAI Chat Completions API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="TCP port to listen on (0 picks a free port)")
    parser.add_argument("--api-key", action="append", help=f"accepted API key (repeatable), default {DEFAULT_API_KEY}")
    arguments = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fake = FakeOpenAI(arguments.port, arguments.api_key or (DEFAULT_API_KEY,)).start()
    print(fake.base_url, flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    main()
