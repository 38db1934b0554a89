"""Durable background work: slow jobs accepted from Slack and run after the acknowledgement.

A listener `enqueue`s a task in the same database as everything else, acknowledges Slack,
and calls `TaskRunner.kick()`. A runner thread claims the task with a lease, calls the
handler registered for its kind, and marks it done. A task whose process died is claimed
again once its lease runs out, so a restart never drops a user's request. Handlers must
therefore be safe to run twice (check what is already done first).

Where tasks run: `companycore run` runs them in its one process. In production the web
processes only enqueue, and `companycore worker` runs them, so the work after an
acknowledgement never competes with the next request's acknowledgement for the web
process's CPU. On PostgreSQL, `enqueue` sends a NOTIFY that wakes the worker at once.

Payloads carry ids and the parts of Slack's payload a handler needs, never a token, and
are emptied once the task is done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
from sqlalchemy import func, insert, select, text, update

from bot.context import Services
from storage.db import transaction
from storage.models import Task, TaskStatus

logger = logging.getLogger(__name__)

TaskHandler = Callable[[Services, Task], None]

# Handlers by task kind. Feature modules add theirs with the `task_handler` decorator.
TASK_HANDLERS: dict[str, TaskHandler] = {}

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3
NOTIFY_CHANNEL = "companycore_tasks"


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
    if session.get_bind().dialect.name == "postgresql":
        # Delivered when the transaction commits, so a woken worker finds the row.
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return task


def enqueue_now(services: Services, *, kind: str, team_id: str, user_id: str, payload: dict) -> None:
    """Store one task in its own transaction, as cheaply as possible, before an acknowledgement.

    On PostgreSQL the insert and the NOTIFY are one statement in autocommit mode, so the
    task costs one round trip to the database instead of four (BEGIN, INSERT, NOTIFY and
    COMMIT through a session).
    """
    now = services.clock()
    values = dict(kind=kind, team_id=team_id, user_id=user_id, payload=payload, status=TaskStatus.PENDING.value,
                  attempts=0, run_after=now, created_at=now)
    engine = services.engine
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            connection.execute(insert(Task).values(**values))
        return
    inserted = insert(Task).values(**values).returning(Task.id).cte("inserted")
    statement = select(func.pg_notify(NOTIFY_CHANNEL, ""), inserted.c.id)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(statement)


class TaskRunner:
    """The runner of pending tasks on a small thread pool, one per process."""

    def __init__(self, services: Services, handlers: dict[str, TaskHandler] | None = None, workers: int = 4, run_on_kick: bool = False):
        """`run_on_kick` runs ready tasks on the caller's thread when kicked, for tests."""
        self.services = services
        self.handlers = TASK_HANDLERS if handlers is None else handlers
        self.run_on_kick = run_on_kick
        self._running_inline = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="task")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, kind: str, handler: TaskHandler) -> None:
        self.handlers[kind] = handler

    def kick(self) -> None:
        """Wake the runner now instead of at its next poll."""
        if self.run_on_kick and not getattr(self._running_inline, "active", False):
            self._running_inline.active = True
            try:
                while self._run_claimed_inline():
                    pass
            finally:
                self._running_inline.active = False
            return
        self._wake.set()

    def _run_claimed_inline(self) -> int:
        claimed = self._claim()
        for task_id in claimed:
            self._run(task_id)
        return len(claimed)

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
        if self.services.engine.dialect.name == "postgresql":
            threading.Thread(target=self._listen, name="task-listener", daemon=True).start()

    def _listen(self) -> None:
        """Kick the runner whenever another process enqueues a task (PostgreSQL LISTEN)."""
        url = self.services.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    logger.info("task runner listening for new tasks")
                    while not self._stop.is_set():
                        for _notification in connection.notifies(timeout=1.0, stop_after=1):
                            self.kick()
            except psycopg.Error as error:
                # Polling still runs every few seconds, so tasks are only slower to start.
                logger.warning("listening for new tasks failed (%s); retrying in 5 s", type(error).__name__)
                self._stop.wait(5)

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
            # During a rolling deploy a newer web process may store a kind this older
            # worker does not know yet; a newer worker picks it up on a later try.
            status = TaskStatus.FAILED if task.attempts >= MAX_ATTEMPTS else TaskStatus.PENDING
            logger.error("no handler for task %s of kind %s (attempt %d)", task.id, task.kind, task.attempts)
            self._finish(task.id, status, f"no handler for {task.kind}")
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
                .values(
                    status=status.value,
                    lease_expires_at=None,
                    last_error=error,
                    run_after=now + timedelta(seconds=10),
                    # A finished task keeps no copy of what the user sent.
                    **({"payload": {}} if status == TaskStatus.DONE else {}),
                )
            )
