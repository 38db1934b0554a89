"""`companycore worker`: the scheduled jobs that publish posts, recover leases and remind owners.

The database is the source of truth: every job reads it afresh, so the scheduler keeps its
jobs in memory only (MemoryJobStore) and several workers may run side by side. The jobs:

- publish: every second, claim due posts and publish them (bot.publisher). A post goes
  out within about a second of its time; the (status, scheduled_at) index keeps the poll
  cheap.
- recover: every 30 s, reschedule or settle posts whose worker died mid-publish.
- reminders: every 15 minutes, remind owners whose LinkedIn connection expires soon.
- clean-up: every 15 minutes, delete processed event ids, finished tasks and expired
  OAuth states.

Besides these jobs, the worker runs the durable task queue (bot.tasks): the work that web
processes store for each Slack request. A PostgreSQL NOTIFY wakes it when a task arrives,
and it also polls every 2 s. `companycore run` starts the same jobs and task runner.

`run_worker(settings, once=True)` runs each job once and exits, for cron-only platforms;
posts then go out at the cron's interval. SIGTERM and SIGINT stop the worker gracefully:
no new claims, and the posts in flight finish.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerThreadPool
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.publisher import Publisher
from bot.reminders import send_expiry_reminders
from bot.settings import Settings
from storage.db import transaction
from storage.housekeeping import delete_stale_rows

logger = logging.getLogger(__name__)

PUBLISH_SECONDS = 1
RECOVER_SECONDS = 30
REMINDER_MINUTES = 15
TASK_SECONDS = 2

JOB_DEFAULTS = {
    # A run that starts late does exactly what an on-time run would, because each job reads
    # the database. So no run is dropped for lateness (None), and a backlog of missed runs
    # after a pause collapses into one run (coalesce).
    "misfire_grace_time": None,
    "coalesce": True,
    # A pass that outlasts its interval must not overlap the next one in this process: the
    # database would keep them correct, but they would compete for the same publish pool.
    "max_instances": 1,
}


def build_worker_services(settings: Settings):
    """Build services with Slack and LinkedIn access, and register every task handler."""
    from bot.app import LISTENER_MODULES, build_services_for_app

    services = build_services_for_app(settings)
    # Task handlers register when their modules are imported. A task whose handler is
    # missing would be marked failed, so every listener module is imported first.
    for name in LISTENER_MODULES:
        importlib.import_module(name)
    return services


class WorkerJobs:
    """The jobs of one worker, around one Publisher."""

    def __init__(self, services, publisher: Publisher | None = None, drain_tasks: bool = True):
        self.services = services
        self.publisher = publisher or Publisher(services)
        self.drain_tasks = drain_tasks and services.task_runner is not None

    def publish(self) -> None:
        self.publisher.run_once(wait_for_notifications=False)

    def recover(self) -> None:
        self.publisher.recover()

    def remind(self) -> None:
        send_expiry_reminders(self.services)

    def clean_up(self) -> None:
        with transaction(self.services.sessions) as session:
            removed = delete_stale_rows(session, self.services.clock())
        logger.info("deleted stale rows: %s", removed)

    def run_all_once(self) -> None:
        """Run every job once, in order, and wait for its work and notifications."""
        for name, job in self._named():
            try:
                job()
            except Exception:
                logger.exception("worker job %s failed", name)
        self.publisher.wait_for_notifications()
        if self.drain_tasks:
            self.services.task_runner.run_pending(wait=True)

    def _named(self) -> list[tuple[str, Callable[[], None]]]:
        return [("recover", self.recover), ("publish", self.publish), ("reminders", self.remind), ("clean-up", self.clean_up)]

    def add_to(self, scheduler: BaseScheduler) -> None:
        scheduler.add_job(self._logged("publish", self.publish), "interval", seconds=PUBLISH_SECONDS, id="publish", name="publish")
        scheduler.add_job(self._logged("recover", self.recover), "interval", seconds=RECOVER_SECONDS, id="recover", name="recover", next_run_time=self.services.clock())
        scheduler.add_job(self._logged("reminders", self.remind), "interval", minutes=REMINDER_MINUTES, id="reminders", name="reminders", next_run_time=self.services.clock())
        scheduler.add_job(self._logged("clean-up", self.clean_up), "interval", minutes=REMINDER_MINUTES, id="clean-up", name="clean-up")

    def start_tasks(self) -> None:
        """Run durable tasks on the runner's own threads, woken by new tasks on PostgreSQL."""
        if self.drain_tasks:
            self.services.task_runner.start(poll_seconds=TASK_SECONDS)

    @staticmethod
    def _logged(name: str, job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except Exception:
                # Logged here, with the job's name, and tried again at the next interval.
                logger.exception("worker job %s failed; trying again at its next run", name)

        run.__name__ = f"worker_{name}"
        return run

    def stop(self) -> None:
        if self.drain_tasks:
            self.services.task_runner.stop()
        self.publisher.shutdown(wait_for_posts=True)


def _scheduler(cls):
    return cls(
        jobstores={"default": MemoryJobStore()},
        executors={"default": SchedulerThreadPool(max_workers=4)},
        job_defaults=JOB_DEFAULTS,
        timezone="UTC",
    )


def run_worker(settings: Settings, once: bool = False) -> int:
    """Run the worker until SIGTERM or SIGINT, or one pass with `once`. Return the exit code."""
    services = build_worker_services(settings)
    _migrate_sqlite(services)
    jobs = WorkerJobs(services)

    if once:
        logger.info("worker running one pass")
        jobs.run_all_once()
        jobs.stop()
        logger.info("worker pass finished")
        return 0

    scheduler = _scheduler(BlockingScheduler)
    jobs.add_to(scheduler)
    jobs.start_tasks()

    def stop(signum, _frame) -> None:
        logger.info("worker received signal %s; stopping", signum)
        # Called in the main thread, where BlockingScheduler.start() waits; wait=False so
        # the handler returns at once, and the running jobs finish in jobs.stop() below.
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("worker started: publish every %d s, recover every %d s, reminders every %d min", PUBLISH_SECONDS, RECOVER_SECONDS, REMINDER_MINUTES)
    scheduler.start()
    jobs.stop()
    logger.info("worker stopped")
    return 0


class InProcessWorker:
    """The worker's jobs on a BackgroundScheduler inside `companycore run`."""

    def __init__(self, scheduler: BackgroundScheduler, jobs: WorkerJobs):
        self.scheduler = scheduler
        self.jobs = jobs
        self._stopped = threading.Event()

    def shutdown(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.scheduler.shutdown(wait=True)
        self.jobs.stop()
        logger.info("in-process worker stopped")


def start_in_process(services, drain_tasks: bool = False) -> InProcessWorker:
    """Start the publisher, recovery and reminders on background threads of this process."""
    jobs = WorkerJobs(services, drain_tasks=drain_tasks)
    scheduler = _scheduler(BackgroundScheduler)
    jobs.add_to(scheduler)
    jobs.start_tasks()
    scheduler.start()
    logger.info("in-process worker started")
    return InProcessWorker(scheduler, jobs)


def _migrate_sqlite(services) -> None:
    # A SQLite file is local to this machine, so the worker may bring it up to date, as
    # `companycore run` does; PostgreSQL is migrated by `companycore migrate` on deploy.
    if services.engine.dialect.name == "sqlite":
        from storage.db import migrate

        migrate(services.engine)
