"""Run history older than the retention is purged with its errors; recent runs stay."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flows.config import parse_config
from flows.store import Store
from tests.lab import RULES


def _store_with_an_old_run(tmp_path: Path) -> Path:
    """A store holding one run started 30 days ago (with an error) and one started now."""
    config_path = tmp_path / "forestsync.yaml"
    config_path.write_text(
        f"""
store: {tmp_path / "state.duckdb"}
rules: [{RULES}]
schedule:
  purge_run_history_days: 7
connectors:
  - name: lab
    kind: ldif
    path: {tmp_path / "forest.ldif"}
    forest: corp.example.com
""",
        encoding="utf-8",
    )
    config = parse_config(config_path.read_text(encoding="utf-8"), str(config_path))
    with Store(config.store) as store:
        for run_id in ("old", "recent"):
            store.start_run(run_id, cycle_id="c0", connector="lab", profile="Full Import")
            store.finish_run(run_id, status="success", counters={})
        store.execute("UPDATE runs SET started_at = now() - INTERVAL 30 DAY WHERE run_id = 'old'")
        store.record_errors(
            pl.DataFrame({"run_id": ["old", "recent"], "connector": ["lab", "lab"], "message": ["a", "b"]})
        )
    return config_path


def test_purge_run_history_drops_old_runs_and_their_errors(tmp_path: Path) -> None:
    """Runs started before the retention go with their errors; recent ones and theirs stay."""
    from flows.cycle import purge_run_history

    config_path = _store_with_an_old_run(tmp_path)
    assert purge_run_history(str(config_path), 7) == 1
    with Store(tmp_path / "state.duckdb", read_only=True) as store:
        assert store.query("SELECT run_id FROM runs")["run_id"].to_list() == ["recent"]
        assert store.query("SELECT run_id FROM errors")["run_id"].to_list() == ["recent"]


@pytest.mark.slow
def test_sync_cycle_purges_run_history_at_its_end(tmp_path: Path) -> None:
    """A whole cycle (through Prefect) ends by purging runs older than ``purge_run_history_days``."""
    from prefect.settings import (
        PREFECT_HOME,
        PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from emulator.forest import generate_forest
    from emulator.ldif import write_ldif
    from flows.cycle import sync_cycle

    config_path = _store_with_an_old_run(tmp_path)
    write_ldif(generate_forest(20, 2, 1, seed=1), tmp_path / "forest.ldif")
    # Prefect may already be imported by other tests: its settings are set here, not through the
    # environment. A busy machine starts the temporary API server slowly.
    with temporary_settings(
        {
            PREFECT_HOME: tmp_path / ".prefect",
            PREFECT_SERVER_ANALYTICS_ENABLED: False,
            PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore",
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 300,
        }
    ):
        report = sync_cycle.fn(config_path=str(config_path), policy="initial")
    assert report["purged_runs"] == 1
    with Store(tmp_path / "state.duckdb", read_only=True) as store:
        ids = store.query("SELECT run_id FROM runs")["run_id"].to_list()
    assert "old" not in ids and "recent" in ids and len(ids) == 3
