"""A progress bar for ``forestsync sync``: one step per task run of the cycle.

The cycle's tasks (import per connector, sync, export per connector, purge) log when they finish;
Prefect stamps every task-run log record with ``task_run_name``. A logging handler counts the task
runs seen so far, so the flow itself knows nothing about the display.
"""

from __future__ import annotations

import logging

from rich.progress import Progress, TaskID

TASK_RUN_LOGGER = "prefect.task_runs"


class CycleProgress(logging.Handler):
    """Advances ``progress`` by one step for each task run that logs for the first time."""

    def __init__(self, progress: Progress, total: int) -> None:
        super().__init__(level=logging.DEBUG)
        self.progress = progress
        self.bar: TaskID = progress.add_task("sync cycle", total=total)
        self.steps: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "task_run_name", None)
        if not isinstance(name, str) or name in self.steps:
            return
        self.steps.append(name)
        self.progress.update(self.bar, advance=1, description=name)

    def finish(self) -> None:
        total = self.progress.tasks[self.bar].total
        self.progress.update(self.bar, completed=total, description="sync cycle done")

    def __enter__(self) -> CycleProgress:
        logging.getLogger(TASK_RUN_LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(TASK_RUN_LOGGER).removeHandler(self)


def cycle_steps(connectors: int, exported: int) -> int:
    """Task runs of a cycle: one import per connector, the sync, one export per target, the purge."""
    return connectors + 1 + exported + 1
