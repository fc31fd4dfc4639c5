"""A per-partition backfill: a full import of chosen partitions of an AD connector, over a real store."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from flows.connectors.base import ImportBatch, ImportResult
from flows.inspection import find_run
from flows.stages.importing import import_connector_space
from flows.store import Store
from tests.lab import RULES

PARENT = "DC=corp,DC=example,DC=com"
CHILD = "DC=child,DC=corp,DC=example,DC=com"


class TwoDomains:
    """Stands in for an AD connector over a parent and a child domain; ``only`` narrows what it reads
    to some partitions, as the AD connector built for a partition backfill does."""

    name = "corp"

    def __init__(
        self, objects: dict[str, list[str]], marks: dict[str, str], only: tuple[str, ...] = ()
    ) -> None:
        self.objects, self.marks, self.only = objects, marks, only

    def object_types(self) -> list[str]:
        return ["user"]

    def full_import(self) -> ImportResult:
        batches = []
        for partition, names in self.objects.items():
            if self.only and partition not in self.only:
                continue
            frame = pl.DataFrame(
                {
                    "_anchor": names,
                    "_dn": [f"CN={n},{partition}" for n in names],
                    "_object_type": ["user"] * len(names),
                    "title": ["Dev"] * len(names),
                }
            )
            batches.append(ImportBatch("user", frame, partition=partition))
        marks = {p: m for p, m in self.marks.items() if not self.only or p in self.only}
        return ImportResult(batches=batches, full=True, watermarks=marks)

    def delta_import(self, watermarks: dict[str, str]) -> ImportResult:
        raise AssertionError("a partition backfill never runs a delta import")

    def export(self, plan: pl.DataFrame) -> pl.DataFrame:
        raise AssertionError("not exported")


def test_a_partition_import_deletes_only_in_that_partition(tmp_path: Path) -> None:
    """Objects of the child no longer seen become deletes; the parent's objects, pending flags and
    watermark stay; the run row names the partition."""
    with Store(tmp_path / "state.duckdb") as store:
        first = TwoDomains({PARENT: ["p1", "p2"], CHILD: ["c1", "c2"]}, {PARENT: "usn:10", CHILD: "usn:20"})
        import_connector_space(store, first, cycle_id="c1", full=True)
        parent_mark = store.query("SELECT value, run_id FROM watermarks WHERE partition = ?", [PARENT]).rows()

        again = TwoDomains({PARENT: [], CHILD: ["c1"]}, {PARENT: "usn:99", CHILD: "usn:30"}, only=(CHILD,))
        step = import_connector_space(
            store, again, cycle_id="c2", full=True, partitions=[CHILD], known_partitions=[PARENT, CHILD]
        )

        assert step["profile"] == "Full Import"
        assert (step["counters"]["stage-delete"], step["counters"]["stage-no-change"]) == (1, 1)
        users = store.read_connector_space("corp", "user")
        assert users is not None
        assert sorted(users.select("_anchor", "_pending").rows()) == [
            ("c1", "add"),  # the first import's add is still unprocessed: it carries over
            ("c2", "delete"),
            ("p1", "add"),
            ("p2", "add"),
        ]
        assert store.query("SELECT value, run_id FROM watermarks WHERE partition = ?", [PARENT]).rows() == (
            parent_mark
        )
        assert store.watermarks("corp")[CHILD] == "usn:30"
        assert find_run(store, step["run_id"])["partition"] == CHILD


def _ad_config(tmp_path: Path) -> Path:
    path = tmp_path / "forestsync.yaml"
    path.write_text(
        f"""
store: {tmp_path / "state.duckdb"}
rules: [{RULES}]
connectors:
  - name: corp
    kind: ad
    host: dc.corp.example.com
    bind_dn: CN=sync,{PARENT}
    password: env:UNUSED_PASSWORD
    partitions:
      - dn: {PARENT}
      - dn: {CHILD}
  - name: lab
    kind: ldif
    path: forest.ldif
""",
        encoding="utf-8",
    )
    return path


def test_an_unknown_partition_is_an_error_naming_connector_and_partition(tmp_path: Path) -> None:
    """Nothing runs; the message names the connector, the partition asked for and the configured ones."""
    wrong = "DC=nowhere,DC=example,DC=com"
    result = CliRunner().invoke(
        app, ["backfill", "--connector", "corp", "--partition", wrong, "-c", str(_ad_config(tmp_path))]
    )
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert f"connector 'corp' has no partition '{wrong}'" in message
    assert f"(its partitions: {PARENT}; {CHILD})" in message
    assert not (tmp_path / "state.duckdb").exists()


def test_partitions_need_one_ad_connector(tmp_path: Path) -> None:
    """Without a connector, or for a snapshot connector, --partition is refused before anything runs."""
    config = str(_ad_config(tmp_path))
    alone = CliRunner().invoke(app, ["backfill", "--partition", CHILD, "-c", config])
    assert alone.exit_code == 2 and "exactly one AD connector" in alone.output
    ldif = CliRunner().invoke(app, ["backfill", "--connector", "lab", "--partition", CHILD, "-c", config])
    assert ldif.exit_code == 2 and "'lab' is of kind ldif" in " ".join(ldif.output.split())
