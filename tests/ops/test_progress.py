"""The sync progress bar advances once per task run of the cycle, read from Prefect's log records."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.progress import Progress

from flows.cli_progress import TASK_RUN_LOGGER, CycleProgress, cycle_steps


def _record(task_run_name: str | None) -> logging.LogRecord:
    record = logging.LogRecord(TASK_RUN_LOGGER, logging.INFO, __file__, 1, "message", None, None)
    if task_run_name is not None:
        record.task_run_name = task_run_name
    return record


def test_each_task_run_counts_once_and_other_records_not_at_all() -> None:
    """Two records of one task run are one step; a record without a task run is ignored."""
    progress = Progress(console=Console(file=None, quiet=True))
    steps = CycleProgress(progress, cycle_steps(connectors=2, exported=1))
    for name in ("import lab", "import lab", None, "import aad", "sync (full)"):
        steps.handle(_record(name))
    task = progress.tasks[steps.bar]
    assert (task.completed, task.total, task.description) == (3, 5, "sync (full)")
    assert steps.steps == ["import lab", "import aad", "sync (full)"]


def test_handler_listens_to_the_task_run_logger_only_while_open() -> None:
    """Inside the ``with`` block task-run logs advance the bar; after it they no longer do."""
    progress = Progress(console=Console(quiet=True))
    logger = logging.getLogger(TASK_RUN_LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with CycleProgress(progress, 4) as steps:
            logger.info("done", extra={"task_run_name": "import lab"})
        logger.info("done", extra={"task_run_name": "export aad"})
    finally:
        logger.setLevel(level)
    assert steps.steps == ["import lab"]
    steps.finish()
    assert progress.tasks[steps.bar].completed == 4
