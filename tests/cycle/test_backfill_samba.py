"""``backfill`` of one partition of an AD connector, against the real Samba AD DC.

The connector reads two naming contexts of the DC: the domain (a fresh OU of it) and the
Configuration partition. Backfilling the domain re-reads only it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from emulator.samba_dc import SambaDC, admin_connection
from flows.config import load_config
from flows.cycle import backfill_connectors, import_task, sync_task
from flows.store import Store
from tests.cycle.test_consistency_guid_samba import _config, _cycle, _users

pytestmark = pytest.mark.samba


def test_backfill_of_a_partition_reimports_only_that_partition(
    samba_dc: SambaDC, samba_ou: str, tmp_path: Path
) -> None:
    """A user deleted from the domain is deleted by the backfill of the domain partition; the other
    partition's watermark is untouched; the run row names the partition."""
    configuration = f"CN=Configuration,{samba_dc.base_dn}"
    tag = uuid.uuid4().hex[:6]
    names = [f"bf{tag}{i}" for i in range(3)]
    _users(samba_dc, samba_ou, names)
    config = _config(tmp_path, samba_dc, samba_ou, f"      - dn: {configuration}")
    _cycle(config, "initial")
    with Store(tmp_path / "state.duckdb", read_only=True) as store:
        other = store.query(
            "SELECT value, run_id FROM watermarks WHERE partition = ?", [configuration]
        ).rows()
    assert other
    conn = admin_connection(samba_dc)
    try:
        conn.delete(f"CN={names[0]},{samba_ou}")
    finally:
        conn.unbind()

    # The backfill flow's steps, each task through ``.fn`` (no Prefect server in tests).
    partition = [samba_dc.base_dn.lower()]
    assert backfill_connectors(load_config(config), ["corp"], None, partition) == ["corp"]
    imported = import_task.fn(str(config), "corp", "backfill", True, None, partition)
    steps = [imported, *sync_task.fn(str(config), "backfill", "full")]

    assert imported["counters"]["stage-delete"] == 1
    # The others are still there (updated: the first cycle wrote their mS-DS-ConsistencyGuid).
    assert imported["counters"]["stage-add"] == 0
    assert imported["counters"]["stage-update"] + imported["counters"]["stage-no-change"] >= 2
    assert {s["profile"] for s in steps} == {"Full Import", "Full Synchronization"}
    with Store(tmp_path / "state.duckdb", read_only=True) as store:
        assert (
            store.query("SELECT value, run_id FROM watermarks WHERE partition = ?", [configuration]).rows()
            == other
        )
        run = store.query("SELECT partition FROM runs WHERE run_id = ?", [imported["run_id"]])
        assert run["partition"].to_list() == [samba_dc.base_dn]
        gone = store.query("SELECT count(*) AS n FROM cs__corp__user WHERE sAMAccountName = ?", [names[0]])
        assert gone["n"][0] == 0  # the full sync processed the delete
