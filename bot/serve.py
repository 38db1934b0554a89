"""`companycore run` and `companycore web`: serving the app.

`run_all` runs everything in one process, for a single small server or development:
1. migrate a SQLite database (PostgreSQL is migrated by `companycore migrate`);
2. serve HTTP on HOST:PORT with a threaded stdlib WSGI server;
3. with SLACK_APP_TOKEN, also connect Slack's Socket Mode (HTTP still serves the LinkedIn
   routes, the transparency page and the health check);
4. start the durable task runner and the in-process publisher (bot.worker);
5. on SIGTERM or SIGINT, stop taking requests, then stop the publisher and task runner.

`run_web` replaces the process with gunicorn, with the options of the Procfile's web line.
The HTTP server here must never log query strings: LinkedIn's callback carries a code.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.settings import Settings

logger = logging.getLogger(__name__)

# The Procfile's web line uses the same options. Bolt acks within milliseconds and slow work
# runs on task threads, so 2 processes of 8 threads each should be enough for one company
# (an estimate, not measured), and the second process serves while one restarts.
# 30 s is gunicorn's default worker timeout.
GUNICORN_OPTIONS = ["--config", "python:bot.gunicorn_conf", "--workers", "2", "--threads", "8", "--timeout", "30"]


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietRequestHandler(WSGIRequestHandler):
    """Logs method, path without the query string, and status, through `logging`."""

    def log_request(self, code="-", size="-") -> None:
        path = self.path.split("?", 1)[0]
        logger.info("%s %s %s", self.command, path, code)

    def log_message(self, format, *args) -> None:
        # Error lines of http.server quote the request line, query string included.
        logger.warning("http: %s", re.sub(r"\?\S*", "?[query]", format % args))


def run_all(settings: Settings) -> int:
    """Serve HTTP (and Socket Mode when configured), run tasks and publish, until stopped."""
    from bot.app import build_app, build_services_for_app
    from bot.web import create_wsgi_app
    from bot.worker import start_in_process
    from storage.db import migrate

    services = build_services_for_app(settings)
    if services.engine.dialect.name == "sqlite":
        migrate(services.engine)
    bolt_app = build_app(services)
    server = make_server(
        settings.host,
        settings.http_port,
        create_wsgi_app(services, bolt_app),
        server_class=ThreadingWSGIServer,
        handler_class=QuietRequestHandler,
    )

    socket_mode = _connect_socket_mode(bolt_app, settings)
    # One process runs everything: the durable tasks, the publisher and the reminders.
    worker = start_in_process(services, drain_tasks=True)

    stopping = threading.Event()
    _on_stop_signals(lambda: stopping.set())
    http_thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    http_thread.start()
    logger.info("serving HTTP on %s:%d%s", settings.host, settings.http_port, " with Socket Mode" if socket_mode else "")

    stopping.wait()
    logger.info("stopping")
    server.shutdown()
    server.server_close()
    if socket_mode is not None:
        socket_mode.close()
    worker.shutdown()
    logger.info("stopped")
    return 0


def _connect_socket_mode(bolt_app, settings: Settings):
    if not settings.slack_app_token:
        return None
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    # NOTE: no test covers Socket Mode, because no fake of Slack's WebSocket server exists.

    handler = SocketModeHandler(bolt_app, settings.slack_app_token)
    handler.connect()
    logger.info("Socket Mode connected")
    return handler


def _on_stop_signals(stop) -> None:
    def handle(signum, _frame) -> None:
        logger.info("received signal %s", signum)
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def run_web(settings: Settings) -> int:
    """Replace this process with gunicorn serving bot.wsgi:application."""
    gunicorn = shutil.which("gunicorn")
    if gunicorn is None:
        print("gunicorn is not installed; install companycore's dependencies or use `companycore run`.", file=sys.stderr)
        return 1
    arguments = [gunicorn, "bot.wsgi:application", *GUNICORN_OPTIONS, "--bind", f"{settings.host}:{settings.http_port}"]
    os.execv(gunicorn, arguments)  # noqa: S606 - replaces this process with gunicorn
    return 0
