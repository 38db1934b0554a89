"""Fixtures of the end-to-end test: a process launcher that always cleans up and shows logs on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import ProductProcess

LOG_TAIL_CHARS = 20_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


CALL_FAILED = pytest.StashKey[bool]()


class Launcher:
    """Starts product processes in one working directory and stops them all at teardown."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[ProductProcess] = []

    def start(self, name: str, argv: list[str], environ: dict[str, str]) -> ProductProcess:
        process = ProductProcess.start(name, argv, environ, self.workdir)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        # Stopped in reverse order, so a worker stops before the database's web process.
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def launcher(request, tmp_path):
    """A Launcher whose processes run with cwd=tmp_path, so no .env of the repository is read."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()
    if request.node.stash.get(CALL_FAILED, True):
        for process in launcher.processes:
            text = process.log_text()
            print(f"\n===== {process.name} (exit {process.process.returncode}): last {LOG_TAIL_CHARS} characters =====")
            print(text[-LOG_TAIL_CHARS:])
