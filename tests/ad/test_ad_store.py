"""End to end with the store: the AD connector's full and DirSync delta imports staged into DuckDB."""

from __future__ import annotations

import uuid
from pathlib import Path

import ldap3
import polars as pl
import pytest

from emulator.samba_dc import SambaDC
from emulator.samba_loader import connect_to, load_frames
from flows.connectors.ad import AdConnector, AdPartition, AdSettings
from flows.stages.importing import import_connector_space
from flows.store import Store

USER = ["top", "person", "organizationalPerson", "user"]


@pytest.mark.samba
def test_delta_import_through_the_store_matches_a_fresh_full_import(
    samba_dc: SambaDC, samba_ou: str, tmp_path: Path
) -> None:
    """After changes, the stored image (full, then delta merged) equals what a new full import reads."""
    tag = uuid.uuid4().hex[:8]
    users = [f"CN=u{i},{samba_ou}" for i in range(8)]
    group = f"CN=g,{samba_ou}"
    client = connect_to(samba_dc)
    load_frames(
        client,
        [
            pl.DataFrame(
                {"dn": users, "objectClass": [USER] * 8, "sAMAccountName": [f"{tag}{i}" for i in range(8)]}
            ),
            pl.DataFrame(
                {
                    "dn": [group],
                    "objectClass": [["top", "group"]],
                    "sAMAccountName": [f"{tag}g"],
                    "member": [users[:4]],
                }
            ),
        ],
    )
    settings = AdSettings(
        name="corp",
        host=samba_dc.host,
        bind_dn=samba_dc.bind_dn,
        password=samba_dc.password_ref,
        ca_file=str(samba_dc.ca_file),
        tls_server_name=samba_dc.tls_server_name,
        partitions=(AdPartition(samba_dc.base_dn, include=(samba_ou,)),),
        object_types=("user", "group"),
        attributes=("sAMAccountName", "title", "member", "description"),
    )
    store = Store(tmp_path / "state.duckdb")
    connector = AdConnector(settings)
    import_connector_space(store, connector, cycle_id="c1", full=True)

    client.modify(users[0], {"title": [(ldap3.MODIFY_REPLACE, ["Lead"])]})
    client.modify(users[1], {"description": [(ldap3.MODIFY_REPLACE, ["temp"])]})
    client.modify(group, {"member": [(ldap3.MODIFY_ADD, [users[5]]), (ldap3.MODIFY_DELETE, [users[0]])]})
    client.modify_dn(users[6], "CN=renamed6")  # not a member: references to a renamed object go stale
    client.delete(users[7])  # not a member either: see the module docstring of flows.connectors.ad
    step = import_connector_space(store, connector, cycle_id="c2", full=False)
    assert step["profile"] == "Delta Import"

    fresh = {b.object_type: b.frame for b in AdConnector(settings).full_import().batches}
    for object_type in ("user", "group"):
        stored = store.read_connector_space("corp", object_type)
        assert stored is not None
        stored = stored.filter(pl.col("_pending") != "delete")
        columns = ["_anchor", "_dn", "sAMAccountName", "title", "description", "member"]
        expected = fresh[object_type].select(columns).sort("_anchor")
        got = stored.select(columns).sort("_anchor")
        # Value order of a multi-valued attribute is not significant, and the staging writes an
        # empty list where a partial row touched no member value of an object that had none.
        normal = pl.when(pl.col("member").list.len() > 0).then(pl.col("member").list.sort()).alias("member")
        expected, got = expected.with_columns(normal), got.with_columns(normal)
        assert got.to_dicts() == expected.to_dicts()
    store.close()
    client.close()
