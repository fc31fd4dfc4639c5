"""The cycle end to end: a forest (LDIF snapshot or the Samba DC) into the emulated tenant over Graph.

The steps are the cycle's own tasks, called with ``.fn`` (Prefect's advice for tests): the real
connectors, the real DuckDB store, the real msgraph-sdk/azure-identity stack against the emulator.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from emulator.forest import Forest, generate_forest
from emulator.graph import RunningEmulator, ThrottleConfig, start
from emulator.ldif import write_ldif
from emulator.samba_dc import SambaDC
from emulator.samba_loader import connect_to, load_frames
from flows.cycle import export_task, import_task, ordered_connectors, sync_task
from flows.store import Store

RULES = Path(__file__).parents[2] / "rules"
SECRET_ENV = "FORESTSYNC_TEST_TENANT_SECRET"
pytestmark = pytest.mark.graph


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    emu = start(
        throttle=ThrottleConfig(writes=300_000, window_s=150.0),
        verified_domains=["corp.example.com", "mail.corp.example.com", "example.com"],
    )
    monkeypatch.setenv(SECRET_ENV, emu.client_secret)
    try:
        yield emu
    finally:
        emu.stop()


def write_config(tmp_path: Path, emu: RunningEmulator, source: str, extra: str = "") -> Path:
    path = tmp_path / "forestsync.yaml"
    path.write_text(
        f"""
store: state.duckdb
rules: [{RULES}]
connectors:
{source}
  - name: aad
    kind: aad
    tenant_id: {emu.tenant_id}
    client_id: {emu.client_id}
    client_secret: env:{SECRET_ENV}
    authority: {emu.authority}
    graph_url: {emu.base_url}
    ca_file: {emu.ca_cert_path}
    extension_app_id: {emu.client_id}
    write_budget: 300000
{extra}
""",
        encoding="utf-8",
    )
    return path


def ldif_source(path: Path) -> str:
    return f"""  - name: lab
    kind: ldif
    path: {path}
    forest: corp.example.com"""


def run_cycle(
    config: Path, *, policy: str = "delta", allow_deletes_once: bool = False
) -> list[dict[str, Any]]:
    """The body of ``sync_cycle`` step by step, each task through ``.fn``."""
    from flows.config import load_config
    from flows.cycle import export_order

    cfg = load_config(config)
    cycle = uuid.uuid4().hex[:12]
    steps = [
        import_task.fn(str(config), name, cycle, policy == "initial") for name in ordered_connectors(cfg)
    ]
    steps += sync_task.fn(str(config), cycle, "full" if policy == "initial" else "delta")
    steps += [export_task.fn(str(config), name, cycle, allow_deletes_once) for name in export_order(cfg)]
    return steps


def tenant_users(emu: RunningEmulator) -> dict[str, dict[str, Any]]:
    with emu.directory.lock:
        return {o.props.get("onPremisesImmutableId"): o.view() for o in emu.directory.of_kind("user")}


def anchors(frame: pl.DataFrame) -> list[str]:
    """The sourceAnchor of generated users (their mS-DS-ConsistencyGuid, when set, is their objectGUID)."""
    return frame["objectGUID"].bin.encode("base64").to_list()


def step(steps: list[dict[str, Any]], connector: str, profile: str) -> dict[str, Any]:
    return next(s for s in steps if s["connector"] == connector and s["profile"] == profile)


@pytest.fixture
def lab(tmp_path: Path, tenant: RunningEmulator) -> tuple[Forest, Path, Path]:
    forest = generate_forest(120, 12, 1, seed=11)
    ldif = tmp_path / "forest.ldif"
    write_ldif(forest, ldif)
    return forest, ldif, write_config(tmp_path, tenant, ldif_source(ldif))


def test_ldif_forest_reaches_the_tenant_and_a_delta_carries_changes(
    lab: tuple[Forest, Path, Path], tenant: RunningEmulator
) -> None:
    """Initial cycle creates the forest's users in the tenant; a changed department arrives by delta."""
    forest, ldif, config = lab
    steps = run_cycle(config, policy="initial")
    export = step(steps, "aad", "Export")
    assert export["counters"]["export-add"] > 100
    users = tenant_users(tenant)
    synced = [a for a in anchors(forest.users) if a in users]
    assert len(synced) >= 100  # of 120: the generator's system and service accounts stay home
    # System accounts never reach the tenant.
    assert not any(str(u.get("displayName", "")).startswith("MSOL_") for u in users.values())

    first = forest.users.filter(pl.col("objectGUID").bin.encode("base64").is_in(list(users)))[0]
    anchor = anchors(first)[0]
    changed = forest.users.with_columns(
        pl.when(pl.col("dn") == first["dn"][0])
        .then(pl.lit("Quantum Research"))
        .otherwise(pl.col("department"))
        .alias("department")
    )
    write_ldif(dataclasses.replace(forest, users=changed), ldif)
    steps = run_cycle(config, policy="delta")
    assert step(steps, "aad", "Export")["counters"]["export-update"] >= 1
    assert tenant_users(tenant)[anchor]["department"] == "Quantum Research"


def test_threshold_stops_mass_deletes_until_allowed_once(
    lab: tuple[Forest, Path, Path], tenant: RunningEmulator
) -> None:
    """Deleting most users from the forest stops the export; the tenant keeps them until the override."""
    forest, ldif, config = lab
    run_cycle(config, policy="initial")
    before = len(tenant_users(tenant))
    writes = tenant.app.stats.writes
    config.write_text(config.read_text() + "export:\n  deletion_threshold: 10\n", encoding="utf-8")
    write_ldif(dataclasses.replace(forest, users=forest.users.head(20)), ldif)
    steps = run_cycle(config, policy="delta")
    stopped = step(steps, "aad", "Export")
    assert stopped["status"] == "stopped-deletion-threshold-exceeded"
    assert "exceed the deletion threshold of 10" in stopped["message"]
    assert tenant.app.stats.writes == writes and len(tenant_users(tenant)) == before
    steps = run_cycle(config, policy="delta", allow_deletes_once=True)
    assert step(steps, "aad", "Export")["counters"]["export-delete"] > 10
    assert len(tenant_users(tenant)) < before - 10


def test_staging_mode_sends_nothing(
    lab: tuple[Forest, Path, Path], tenant: RunningEmulator, tmp_path: Path
) -> None:
    """In staging mode the cycle imports and syncs, the tenant sees no write, the preview is written."""
    _, _, config = lab
    config.write_text(config.read_text() + "export:\n  staging: true\n", encoding="utf-8")
    writes = tenant.app.stats.writes
    steps = run_cycle(config, policy="initial")
    export = step(steps, "aad", "Export")
    assert export["status"] == "staging-preview"
    assert export["counters"]["preview-add"] > 100
    assert tenant.app.stats.writes == writes
    assert (tmp_path / "export-preview-aad.json").exists()


def test_a_rule_change_makes_the_next_delta_cycle_a_full_sync(
    lab: tuple[Forest, Path, Path], tmp_path: Path
) -> None:
    """Editing a rule file changes the rule set's hash: the next delta cycle runs a full sync."""
    _, _, config = lab
    custom = tmp_path / "custom"
    custom.mkdir()
    config.write_text(
        config.read_text().replace(f"rules: [{RULES}]", f"rules: [{RULES}, {custom}]"), encoding="utf-8"
    )
    run_cycle(config, policy="initial")
    steps = sync_task.fn(str(config), "c-same", "delta")
    assert {s["profile"] for s in steps} == {"Delta Synchronization"}
    (custom / "050-title.yaml").write_text(
        """name: Custom - In from AD - User Title
connector: {kind: [ad, ldif]}
direction: inbound
source_object_type: user
target_object_type: person
precedence: 50
flows:
  - destination: title
    expression: 'UCase([title])'
""",
        encoding="utf-8",
    )
    steps = sync_task.fn(str(config), "c-rule", "delta")
    assert {s["profile"] for s in steps} == {"Full Synchronization"}
    with Store(tmp_path / "state.duckdb") as store:
        titles = store.query("SELECT title FROM mv__person WHERE title IS NOT NULL LIMIT 20")[
            "title"
        ].to_list()
    assert titles and all(t == t.upper() for t in titles)


@pytest.mark.samba
def test_samba_forest_reaches_the_tenant(
    samba_dc: SambaDC, samba_ou: str, tenant: RunningEmulator, tmp_path: Path
) -> None:
    """Users read from the real DC over LDAPS arrive in the tenant with their sourceAnchor and UPN."""
    tag = uuid.uuid4().hex[:6]
    names = [f"e2e{tag}{i}" for i in range(5)]
    users = pl.DataFrame(
        {
            "dn": [f"CN={n},{samba_ou}" for n in names],
            "objectClass": [["top", "person", "organizationalPerson", "user"]] * 5,
            "sAMAccountName": names,
            "userPrincipalName": [f"{n}@corp.example.com" for n in names],
            "givenName": ["Ada"] * 5,
            "sn": [f"Lovelace{i}" for i in range(5)],
            "displayName": [f"Ada Lovelace {i}" for i in range(5)],
            "userAccountControl": [544] * 5,
        }
    )
    load_frames(connect_to(samba_dc), [users])
    source = f"""  - name: corp
    kind: ad
    host: {samba_dc.host}
    tls: ldaps
    ca_file: {samba_dc.ca_file}
    tls_server_name: {samba_dc.tls_server_name}
    bind_dn: {samba_dc.bind_dn}
    password: {samba_dc.password_ref}
    forest: corp.example.com
    partitions:
      - dn: {samba_dc.base_dn}
        include_ous: ["{samba_ou}"]"""
    config = write_config(tmp_path, tenant, source)
    steps = run_cycle(config, policy="initial")
    assert step(steps, "corp", "Full Import")["counters"]["stage-add"] >= 5
    upns = {u.get("userPrincipalName") for u in tenant_users(tenant).values()}
    assert {f"{n}@corp.example.com" for n in names} <= upns


def test_override_and_scope_change_make_the_next_import_full(
    lab: tuple[Forest, Path, Path], tmp_path: Path
) -> None:
    """An LDIF snapshot aside, a connector override or a changed attribute list turns a delta import full."""
    from flows.cycle import set_override

    _, _, config = lab
    run_cycle(config, policy="initial")
    # The Entra connector has a watermark now: a delta cycle imports it by delta.
    assert import_task.fn(str(config), "aad", "c1", False)["profile"] == "Delta Import"
    with Store(tmp_path / "state.duckdb") as store:
        set_override(store, "aad", full_import=True)
    assert import_task.fn(str(config), "aad", "c2", False)["profile"] == "Full Import"
    assert (
        import_task.fn(str(config), "aad", "c3", False)["profile"] == "Delta Import"
    )  # the override is used up
    text = config.read_text().replace(
        "    extension_app_id:", "    object_types: [user, group]\n    extension_app_id:"
    )
    config.write_text(text, encoding="utf-8")
    assert import_task.fn(str(config), "aad", "c4", False)["profile"] == "Full Import"
