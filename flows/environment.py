"""Process environment forestsync sets before Prefect is imported: nothing leaves the machine."""

from __future__ import annotations

import os
from pathlib import Path

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def prepare_prefect_environment(project_dir: Path | None = None) -> None:
    """Set Prefect's privacy and offline settings unless the operator already chose them."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if "PREFECT_HOME" not in os.environ:
        os.environ["PREFECT_HOME"] = str((project_dir or Path.cwd()) / ".prefect")
