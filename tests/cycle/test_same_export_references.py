"""References to objects created in the same export: one cycle carries managers and members.

A user, his manager and a group with its members, all new, reach the tenant in the first cycle with
the manager and the members set (the sync writes ``{"_mv_id": ...}`` placeholders that the Entra
connector resolves to the ids it just created); the next delta cycle exports nothing.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from emulator.forest import generate_forest
from emulator.graph import RunningEmulator
from emulator.ldif import write_ldif
from flows.store import Store
from tests.cycle.test_end_to_end import ldif_source, run_cycle, step, tenant, write_config

__all__ = ["tenant"]  # the emulator fixture, shared with the end-to-end tests
pytestmark = pytest.mark.graph


def _tenant_state(
    emu: RunningEmulator,
) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, set[str]]]:
    """(immutable id -> user id, group name -> group id, user id -> manager id, group id -> member ids)."""
    with emu.directory.lock:
        users = {
            str(o.props["onPremisesImmutableId"]): o.id
            for o in emu.directory.of_kind("user")
            if o.props.get("onPremisesImmutableId")
        }
        groups = {str(o.props.get("displayName")): o.id for o in emu.directory.of_kind("group")}
        managers = dict(emu.directory.managers)
        members = {o.id: set(o.members or {}) for o in emu.directory.of_kind("group")}
    return users, groups, managers, members


def test_one_cycle_creates_users_managers_groups_and_members(tmp_path: Path, tenant: RunningEmulator) -> None:
    forest = generate_forest(40, 8, 1, seed=11)
    ldif = tmp_path / "forest.ldif"
    write_ldif(forest, ldif)
    config = write_config(tmp_path, tenant, ldif_source(ldif))

    steps = run_cycle(config, policy="initial")
    export = step(steps, "aad", "Export")
    assert export["counters"]["export-add"] > 30
    users, groups, managers, members = _tenant_state(tenant)

    # Tenant ids of the forest's users and groups that reached the tenant, by DN (lower-cased).
    ad_users = forest.users.select(
        pl.col("dn").str.to_lowercase(), pl.col("objectGUID").bin.encode("base64").alias("anchor"), "manager"
    )
    id_by_dn = {dn: users[a] for dn, a in ad_users.select("dn", "anchor").iter_rows() if a in users} | {
        dn.lower(): groups[name]
        for dn, name in forest.groups.select("dn", "displayName").iter_rows()
        if name in groups
    }

    expected_managers = {
        id_by_dn[dn]: id_by_dn[m.lower()]
        for dn, _, m in ad_users.iter_rows()
        if dn in id_by_dn and m is not None and m.lower() in id_by_dn
    }
    assert len(expected_managers) >= 20
    assert {u: managers.get(u) for u in expected_managers} == expected_managers

    expected_members = {
        id_by_dn[dn.lower()]: {id_by_dn[m.lower()] for m in (member or []) if m.lower() in id_by_dn}
        for dn, member in forest.groups.select("dn", "member").iter_rows()
        if dn.lower() in id_by_dn
    }
    assert sum(len(v) for v in expected_members.values()) >= 10
    assert {g: members[g] for g in expected_members} == expected_members
    errors = [s for s in steps if s.get("status") not in ("success", "completed-no-objects")]
    # Only the objects Graph cannot create (contacts, mail-enabled groups) fail.
    assert [s["profile"] for s in errors] in ([], ["Export"])

    # The next delta cycle (which imports what the export wrote) has nothing to send.
    again = run_cycle(config, policy="delta")
    counters = step(again, "aad", "Export")["counters"]
    with Store(tmp_path / "state.duckdb") as store:
        pending = store.query(
            "SELECT op, attribute, count(*) AS n FROM pending_exports WHERE connector = 'aad' "
            "AND op <> 'add' GROUP BY ALL ORDER BY ALL"
        )
        memory = store.query("SELECT count(*) AS n FROM export_memory WHERE value LIKE '%_mv_id%'")["n"][0]
        unconfirmed = store.query(
            "SELECT attribute, count(*) AS n FROM export_memory WHERE connector = 'aad' "
            "AND attribute IN ('manager', 'members') GROUP BY ALL"
        )
    assert pending.height == 0, pending
    assert counters.get("export-update", 0) == 0 and counters.get("export-delete", 0) == 0, counters
    assert memory == 0
    # The import read the managers and members back: every exported reference is confirmed.
    assert unconfirmed.height == 0, unconfirmed
    assert _tenant_state(tenant)[2:] == (managers, members)

    # A manager changed in the tenant is imported, and the sync puts the forest's manager back.
    report, boss = next(iter(expected_managers.items()))
    other = next(u for u in users.values() if u not in (report, boss))
    with tenant.directory.lock:
        tenant.directory.set_manager(report, other)
    again = run_cycle(config, policy="delta")
    counters = step(again, "aad", "Export")["counters"]
    assert counters.get("export-update", 0) == 1, counters
    assert _tenant_state(tenant)[2][report] == boss
    with Store(tmp_path / "state.duckdb") as store:
        left = store.query("SELECT count(*) AS n FROM export_memory WHERE attribute = 'manager'")["n"][0]
    assert left == 1  # the put-back manager, until the next import confirms it
    run_cycle(config, policy="delta")
    with Store(tmp_path / "state.duckdb") as store:
        left = store.query("SELECT count(*) AS n FROM export_memory WHERE attribute = 'manager'")["n"][0]
    assert left == 0
