"""Workspace lifecycle events: when the app is uninstalled or its bot token revoked, delete
everything of that workspace and purge it from the database files."""

from __future__ import annotations

import logging

from storage.db import purge_deleted, transaction
from storage.installations import delete_workspace_data
from storage.models import USER_DATA_MODELS

logger = logging.getLogger(__name__)

WORKSPACE_TABLES = [model.__tablename__ for model in USER_DATA_MODELS] + ["processed_events", "slack_installations", "post_images"]


def forget_workspace(services, team_id: str) -> dict[str, int]:
    """Delete every row of the workspace, then purge. Return the counts per table."""
    with transaction(services.sessions) as session:
        removed = delete_workspace_data(session, team_id)
    purge_deleted(services.engine, WORKSPACE_TABLES)
    logger.info("deleted the data of workspace %s: %s", team_id, removed)
    return removed


def register(app, services) -> None:
    @app.event("app_uninstalled")
    def on_uninstalled(body):
        forget_workspace(services, body.get("team_id", ""))

    @app.event("tokens_revoked")
    def on_tokens_revoked(event, body):
        # Only a revoked bot token stops the app; the app requests no user tokens.
        if (event.get("tokens") or {}).get("bot"):
            forget_workspace(services, body.get("team_id", ""))
