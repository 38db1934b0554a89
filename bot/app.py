"""The Bolt app and the Slack-side services: how the product is wired together.

`build_services_for_app` adds Slack access, LinkedIn clients and the task runner to the
shared services; the worker process uses it too. `build_app` builds the Bolt app in one of
two modes, chosen by the settings and never by Bolt's own environment lookups:

- single workspace: SLACK_BOT_TOKEN, one WebClient for every request;
- multi-workspace: SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, Slack's OAuth v2 install flow,
  and bot tokens kept encrypted in our database.

Then it imports every module in LISTENER_MODULES and calls its `register(app, services)`.
This module must never log a token.
"""

from __future__ import annotations

import importlib
import logging
import os
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.oauth.oauth_settings import OAuthSettings

from bot.clock import Clock, system_clock
from bot.context import Services, build_services
from bot.installation_store import DatabaseInstallationStore, DatabaseOAuthStateStore
from bot.settings import Settings
from bot.slack_access import SlackAccess, make_web_client
from bot.tasks import TaskRunner
from linkedin import LinkedInClient, OAuthClient, OrganizationNames

logger = logging.getLogger(__name__)

LISTENER_MODULES = [
    "bot.listeners.commands",
    "bot.listeners.connection",
    "bot.listeners.home",
    "bot.listeners.workspace",
    "bot.listeners.drafting",
    "bot.listeners.messages",
    "bot.listeners.approval",
    "bot.listeners.publishing",
]

# The bot scopes requested at install time; manifest.yml lists the same ones.
BOT_SCOPES = ["commands", "chat:write", "im:history", "im:write", "users:read", "files:read", "assistant:write"]


class LinkedInAccess:
    """Builds LinkedIn clients with the configured base URLs, credentials and API version."""

    def __init__(self, settings: Settings, clock: Clock = system_clock):
        self.settings = settings
        self.clock = clock
        # Page names, shared by every client of this process for a few minutes.
        self.organization_names = OrganizationNames()

    def oauth(self) -> OAuthClient:
        return OAuthClient(
            self.settings.linkedin_client_id,
            self.settings.linkedin_client_secret,
            self.settings.linkedin_oauth_url,
            clock=self.clock,
        )

    def client(self, access_token: str) -> LinkedInClient:
        return LinkedInClient(
            access_token,
            self.settings.linkedin_api_url,
            self.settings.linkedin_version,
            organization_names=self.organization_names,
        )


def attach_integrations(services: Services) -> Services:
    """Set services.slack, services.linkedin and services.task_runner where still unset."""
    if services.slack is None:
        services.slack = SlackAccess(services)
    if services.linkedin is None:
        services.linkedin = LinkedInAccess(services.settings, services.clock)
    if services.task_runner is None:
        services.task_runner = TaskRunner(services)

    # Task handlers are registered when their modules are imported. A process that runs
    # tasks without building the Bolt app (the worker) still needs every one of them.
    for name in LISTENER_MODULES:
        importlib.import_module(name)
    return services


def build_services_for_app(settings: Settings, clock: Clock = system_clock, engine=None) -> Services:
    """Build the shared services with Slack, LinkedIn and the task runner attached."""
    return attach_integrations(build_services(settings, clock=clock, engine=engine))


# Threads per process that run listeners. Most of their time is spent waiting on Slack
# and LinkedIn over the network, so many more threads than cores is fine.
LISTENER_THREADS = 32


def build_app(services: Services, listener_executor: Executor | None = None) -> App:
    """Build the Bolt app for the configured mode and register every listener module.

    `listener_executor` runs listeners; tests may pass one that runs them inline. A listener
    acks first and keeps its thread for the slow work after the ack, so Bolt's default pool
    of 5 threads made new requests wait for a free thread before they could be acknowledged.
    """
    listener_executor = listener_executor or ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener")
    attach_integrations(services)
    settings = services.settings
    if settings.multi_workspace:
        app = _multi_workspace_app(services, listener_executor)
    else:
        app = _single_workspace_app(services, listener_executor)

    for name in LISTENER_MODULES:
        importlib.import_module(name).register(app, services)
    logger.info("Bolt app built in %s mode", "multi-workspace" if settings.multi_workspace else "single-workspace")
    return app


def _single_workspace_app(services: Services, listener_executor: Executor | None) -> App:
    # Bolt switches to its own OAuth flow, with file-based stores, when these two variables
    # are in the process environment. Settings already chose one workspace, so stop here.
    if os.environ.get("SLACK_CLIENT_ID") is not None and os.environ.get("SLACK_CLIENT_SECRET") is not None:
        raise RuntimeError(
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set in the environment while the settings "
            "chose single-workspace mode; unset them or unset SLACK_BOT_TOKEN"
        )
    settings = services.settings
    return App(
        client=make_web_client(settings, settings.slack_bot_token),
        signing_secret=settings.slack_signing_secret,
        # auth.test runs on the first request instead of at import, so a slow Slack API
        # cannot keep a web process from starting.
        token_verification_enabled=False,
        listener_executor=listener_executor,
        process_before_response=False,
    )


def _multi_workspace_app(services: Services, listener_executor: Executor | None) -> App:
    settings = services.settings
    installation_store = DatabaseInstallationStore(services, settings.slack_client_id)
    oauth_settings = OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=BOT_SCOPES,
        user_scopes=[],
        redirect_uri=f"{settings.public_base}/slack/oauth_redirect",
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
        installation_store=installation_store,
        state_store=DatabaseOAuthStateStore(services),
    )
    return App(
        client=make_web_client(settings),
        signing_secret=settings.slack_signing_secret,
        installation_store=installation_store,
        oauth_settings=oauth_settings,
        listener_executor=listener_executor,
        process_before_response=False,
    )
