"""Durable background work: slow jobs accepted from Slack and run after the acknowledgement.

A listener acknowledges Slack first, then `enqueue`s a task in the same database as
everything else and calls `TaskRunner.kick()`. A runner thread claims the task with a
lease, calls the handler registered for its kind, and marks it done. A task whose process
died is claimed again once its lease runs out, so a restart never drops a user's request.
Handlers must therefore be safe to run twice (check what is already done first).
Payloads carry ids, never tokens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select, update

from bot.context import Services
from storage.db import transaction
from storage.models import Task, TaskStatus

logger = logging.getLogger(__name__)

TaskHandler = Callable[[Services, Task], None]

# Handlers by task kind. Feature modules add theirs with the `task_handler` decorator.
TASK_HANDLERS: dict[str, TaskHandler] = {}

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3


def task_handler(kind: str) -> Callable[[TaskHandler], TaskHandler]:
    def decorate(handler: TaskHandler) -> TaskHandler:
        TASK_HANDLERS[kind] = handler
        return handler

    return decorate


def enqueue(session, *, kind: str, team_id: str, user_id: str, payload: dict, now, delay: timedelta = timedelta(0)) -> Task:
    task = Task(
        kind=kind,
        team_id=team_id,
        user_id=user_id,
        payload=payload,
        status=TaskStatus.PENDING.value,
        attempts=0,
        run_after=now + delay,
        created_at=now,
    )
    session.add(task)
    session.flush()
    return task


class TaskRunner:
    """Runs pending tasks on a small thread pool. One per process."""

    def __init__(self, services: Services, handlers: dict[str, TaskHandler] | None = None, workers: int = 4):
        self.services = services
        self.handlers = TASK_HANDLERS if handlers is None else handlers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="task")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, kind: str, handler: TaskHandler) -> None:
        self.handlers[kind] = handler

    def kick(self) -> None:
        """Wake the runner now instead of at its next poll."""
        self._wake.set()

    def start(self, poll_seconds: float = 2.0) -> None:
        def loop() -> None:
            logger.info("task runner started")
            while not self._stop.is_set():
                try:
                    self.run_pending()
                except Exception:
                    logger.exception("task runner pass failed; trying again at the next poll")
                self._wake.wait(poll_seconds)
                self._wake.clear()
            logger.info("task runner stopped")

        self._thread = threading.Thread(target=loop, name="task-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=True, cancel_futures=False)

    def run_pending(self, wait: bool = False) -> int:
        """Claim every ready task and run it. With `wait`, return after they finish."""
        claimed = self._claim()
        futures = [self._pool.submit(self._run, task_id) for task_id in claimed]
        if wait:
            for future in futures:
                future.result()
        return len(claimed)

    def _claim(self, limit: int = 20) -> list[int]:
        now = self.services.clock()
        with transaction(self.services.sessions) as session:
            statement = (
                select(Task.id)
                .where(
                    ((Task.status == TaskStatus.PENDING.value) & (Task.run_after <= now))
                    | ((Task.status == TaskStatus.RUNNING.value) & (Task.lease_expires_at < now))
                )
                .order_by(Task.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            claimed = []
            for task_id in session.scalars(statement).all():
                result = session.execute(
                    update(Task)
                    .where(Task.id == task_id, Task.status.in_([TaskStatus.PENDING.value, TaskStatus.RUNNING.value]))
                    .values(status=TaskStatus.RUNNING.value, lease_expires_at=now + LEASE, attempts=Task.attempts + 1)
                )
                if result.rowcount == 1:
                    claimed.append(task_id)
            return claimed

    def _run(self, task_id: int) -> None:
        with self.services.sessions() as session:
            task = session.get(Task, task_id)
            if task is None:
                return
            session.expunge(task)
        handler = self.handlers.get(task.kind)
        if handler is None:
            logger.error("no handler for task %s of kind %s", task.id, task.kind)
            self._finish(task.id, TaskStatus.FAILED, f"no handler for {task.kind}")
            return
        try:
            handler(self.services, task)
        except Exception as error:
            logger.exception("task %s (%s) for team %s user %s failed on attempt %d", task.id, task.kind, task.team_id, task.user_id, task.attempts)
            status = TaskStatus.FAILED if task.attempts >= MAX_ATTEMPTS else TaskStatus.PENDING
            self._finish(task.id, status, type(error).__name__)
            return
        self._finish(task.id, TaskStatus.DONE, None)

    def _finish(self, task_id: int, status: TaskStatus, error: str | None) -> None:
        now = self.services.clock()
        with transaction(self.services.sessions) as session:
            session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(status=status.value, lease_expires_at=None, last_error=error, run_after=now + timedelta(seconds=10))
            )
