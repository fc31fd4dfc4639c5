"""ms-DS-ConsistencyGuid writeback through the cycle, against the real Samba AD DC.

The default rule *Out to AD - User ImmutableId* makes the sync plan the write; the cycle's export to
AD sends it; the next import confirms it. Each test works in a fresh OU of the shared DC.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import ldap3
import polars as pl
import pytest

from emulator.samba_dc import SambaDC, admin_connection
from emulator.samba_loader import connect_to, load_frames
from flows.config import load_config
from flows.cycle import export_order, export_task, import_task, ordered_connectors, sync_task
from flows.store import Store

RULES = Path(__file__).parents[2] / "rules"
CG = "mS-DS-ConsistencyGuid"
pytestmark = pytest.mark.samba


def _config(tmp_path: Path, dc: SambaDC, ou: str, extra: str = "") -> Path:
    path = tmp_path / "forestsync.yaml"
    path.write_text(
        f"""
store: state.duckdb
rules: [{RULES}]
connectors:
  - name: corp
    kind: ad
    host: {dc.host}
    tls: ldaps
    ca_file: {dc.ca_file}
    tls_server_name: {dc.tls_server_name}
    bind_dn: {dc.bind_dn}
    password: {dc.password_ref}
    forest: corp.example.com
    partitions:
      - dn: {dc.base_dn}
        include_ous: ["{ou}"]
{extra}
""",
        encoding="utf-8",
    )
    return path


def _cycle(config: Path, policy: str) -> list[dict[str, Any]]:
    """The body of ``sync_cycle``, each task through ``.fn``."""
    cfg = load_config(config)
    cycle = uuid.uuid4().hex[:12]
    steps = [import_task.fn(str(config), n, cycle, policy == "initial") for n in ordered_connectors(cfg)]
    steps += sync_task.fn(str(config), cycle, "full" if policy == "initial" else "delta")
    steps += [export_task.fn(str(config), n, cycle, False) for n in export_order(cfg)]
    return steps


def _export(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return next(s for s in steps if s["connector"] == "corp" and s["profile"] == "Export")


def _users(dc: SambaDC, ou: str, names: list[str]) -> None:
    """Enabled users ``names`` in ``ou``; ``kept`` gets a ConsistencyGuid of its own (moved from elsewhere)."""
    frame = pl.DataFrame(
        {
            "dn": [f"CN={n},{ou}" for n in names],
            "objectClass": [["top", "person", "organizationalPerson", "user"]] * len(names),
            "sAMAccountName": names,
            "userPrincipalName": [f"{n}@corp.example.com" for n in names],
            "displayName": [f"User {n}" for n in names],
            "userAccountControl": [544] * len(names),
        }
    )
    load_frames(connect_to(dc), [frame])


def _guids(dc: SambaDC, ou: str) -> dict[str, tuple[bytes, bytes | None]]:
    """``{sAMAccountName: (objectGUID, mS-DS-ConsistencyGuid)}`` of the users in ``ou``, read from the DC."""
    conn = admin_connection(dc)
    try:
        conn.search(ou, "(objectClass=user)", attributes=["sAMAccountName", "objectGUID", CG])
        out: dict[str, tuple[bytes, bytes | None]] = {}
        for entry in conn.entries:
            raw = entry.entry_raw_attributes
            guid = raw.get(CG) or [None]
            out[raw["sAMAccountName"][0].decode()] = (raw["objectGUID"][0], guid[0])
        return out
    finally:
        conn.unbind()


def _set_guid(dc: SambaDC, dn: str, value: bytes) -> None:
    conn = admin_connection(dc)
    try:
        conn.modify(dn, {CG: [(ldap3.MODIFY_REPLACE, [value])]})
    finally:
        conn.unbind()


def test_a_cycle_writes_the_object_guid_into_empty_consistency_guids_once(
    samba_dc: SambaDC, samba_ou: str, tmp_path: Path
) -> None:
    """After a cycle each synced user's mS-DS-ConsistencyGuid in AD equals its objectGUID bytes; a user
    that had one keeps it, a filtered account gets none, and the next cycle exports nothing to AD."""
    tag = uuid.uuid4().hex[:6]
    plain = [f"cg{tag}{i}" for i in range(3)]
    kept, filtered = f"cgk{tag}", f"MSOL_{tag}"
    _users(samba_dc, samba_ou, [*plain, kept, filtered])
    own = uuid.uuid4().bytes
    _set_guid(samba_dc, f"CN={kept},{samba_ou}", own)
    config = _config(tmp_path, samba_dc, samba_ou)

    first = _export(_cycle(config, "initial"))

    assert first["status"] == "success"
    assert first["counters"] == {"export-add": 0, "export-update": 3, "export-delete": 0, "export-failure": 0}
    guids = _guids(samba_dc, samba_ou)
    assert all(guids[n][1] == guids[n][0] for n in plain)
    assert guids[kept][1] == own
    assert guids[filtered][1] is None

    second = _cycle(config, "delta")

    imported = next(s for s in second if s["profile"] == "Delta Import")
    assert imported["counters"]["stage-update"] >= 3  # the written values come back by DirSync
    assert _export(second)["status"] == "completed-no-objects"
    assert _guids(samba_dc, samba_ou) == guids
    with Store(tmp_path / "state.duckdb", read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM export_memory WHERE connector = 'corp'")["n"][0] == 0
        runs = store.query(
            "SELECT profile, status FROM runs WHERE connector = 'corp' AND profile = 'Export' ORDER BY started_at"
        )
    assert runs["status"].to_list() == ["success", "completed-no-objects"]


def test_staging_mode_only_previews_the_writeback(samba_dc: SambaDC, samba_ou: str, tmp_path: Path) -> None:
    """In staging mode the write appears in the export preview of the AD connector and AD is unchanged."""
    tag = uuid.uuid4().hex[:6]
    names = [f"st{tag}{i}" for i in range(2)]
    _users(samba_dc, samba_ou, names)
    config = _config(tmp_path, samba_dc, samba_ou, "export:\n  staging: true\n")

    export = _export(_cycle(config, "initial"))

    assert export["status"] == "staging-preview"
    assert export["counters"]["preview-update"] == 2
    assert all(cg is None for _guid, cg in _guids(samba_dc, samba_ou).values())
    preview = (tmp_path / "export-preview-corp.json").read_text(encoding="utf-8")
    assert preview.count(CG) == 2
