"""``forestsync runs`` and ``forestsync errors`` read the run history and the errors table."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from tests.ops.conftest import Lab

runner = CliRunner()


def _json(lab: Lab, *args: str) -> object:
    result = runner.invoke(app, [*args, "--config", str(lab.config_path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_runs_lists_the_steps_newest_first(lab: Lab) -> None:
    """Import, two sync steps and the export appear newest first with their decoded counters."""
    runs = _json(lab, "runs")
    assert isinstance(runs, list)
    assert [r["profile"] for r in runs] == [
        "Export",
        "Full Synchronization",
        "Full Synchronization",
        "Full Import",
    ]
    assert runs[-1]["counters"]["stage-add"] > 0
    assert runs[0]["status"] == "completed-export-errors"


def test_runs_limit_keeps_the_newest(lab: Lab) -> None:
    """``--limit 1`` shows only the latest run."""
    runs = _json(lab, "runs", "--limit", "1")
    assert isinstance(runs, list) and [r["profile"] for r in runs] == ["Export"]


def test_runs_table_shows_connector_status_and_counter_summary(lab: Lab) -> None:
    """The table lists each run with its non-zero counters."""
    result = runner.invoke(app, ["runs", "--config", str(lab.config_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "completed-export-errors" in result.stdout
    assert "stage-add=" in result.stdout


def test_runs_show_by_prefix_has_every_counter_and_the_run_errors(lab: Lab) -> None:
    """A unique run-id prefix shows that run, all its counters and only its errors."""
    export = _json(lab, "runs", "--limit", "1")[0]  # type: ignore[index]
    shown = _json(lab, "runs", "show", export["run_id"][:8])
    assert isinstance(shown, dict)
    assert shown["run_id"] == export["run_id"]
    assert set(shown["counters"]) == {"export-add", "export-update", "export-delete", "export-failure"}
    assert len(shown["errors"]) == shown["counters"]["export-failure"] > 0
    assert {e["run_id"] for e in shown["errors"]} == {export["run_id"]}


def test_runs_show_unknown_run_fails(lab: Lab) -> None:
    """An id that names no run exits 2 with a message."""
    result = runner.invoke(app, ["runs", "show", "nope", "--config", str(lab.config_path)])
    assert result.exit_code == 2
    assert "no run 'nope'" in result.output


def test_errors_filter_by_connector_and_type(lab: Lab) -> None:
    """``--connector`` and ``--type`` narrow the errors table; another type finds nothing."""
    rows = _json(lab, "errors", "--connector", "aad", "--type", "export-rejected")
    assert isinstance(rows, list) and rows
    assert {(r["connector"], r["error_type"], r["stage"]) for r in rows} == {
        ("aad", "export-rejected", "export")
    }
    assert _json(lab, "errors", "--type", "ambiguous-join") == []


def test_errors_filter_by_run(lab: Lab) -> None:
    """``--run`` keeps the errors of that run only; the import run has none."""
    runs = _json(lab, "runs")
    assert isinstance(runs, list)
    by_profile = {r["profile"]: r["run_id"] for r in runs}
    assert _json(lab, "errors", "--run", by_profile["Full Import"]) == []
    assert _json(lab, "errors", "--run", by_profile["Export"])


def test_errors_run_accepts_an_id_prefix(lab: Lab) -> None:
    """``--run`` with the first characters of a run id finds that run's errors."""
    export = _json(lab, "runs", "--limit", "1")[0]  # type: ignore[index]
    rows = _json(lab, "errors", "--run", export["run_id"][:6])
    assert isinstance(rows, list) and rows
    assert {r["run_id"] for r in rows} == {export["run_id"]}
