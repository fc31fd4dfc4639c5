"""A generated forest (emulator/forest.py) loads into the Samba DC and imports back."""

from __future__ import annotations

import polars as pl
import pytest

from emulator.forest import generate_forest
from emulator.samba_dc import SambaDC
from emulator.samba_loader import DirectorySchema, connect_to, load_frames
from flows.connectors.ad import AdConnector, AdPartition, AdSettings


@pytest.mark.samba
def test_a_generated_forest_round_trips_through_the_dc(samba_dc: SambaDC, samba_ou: str) -> None:
    """Objects keep their DNs and values; references (manager, member) resolve to loaded objects."""
    forest = generate_forest(40, 4, 1, seed=11, contacts=4, computers=4)
    root = "DC=corp,DC=example,DC=com"
    # Rebase the generated objects under the test's OU so that nothing else in the DC is touched.
    frames = [
        frame.filter(pl.col("dn").str.contains(",OU=Corp,")).with_columns(
            [
                pl.col(c).str.replace(f"OU=Corp,{root}$", f"OU=Corp,{samba_ou}")
                if frame.schema[c] == pl.String
                else pl.col(c).list.eval(pl.element().str.replace(f"OU=Corp,{root}$", f"OU=Corp,{samba_ou}"))
                for c in ("dn", "manager", "managedBy", "member")
                if c in frame.columns
            ]
        )
        for frame in forest.frames().values()
    ]
    corp = pl.DataFrame({"dn": [f"OU=Corp,{samba_ou}"], "objectClass": [["top", "organizationalUnit"]]})
    client = connect_to(samba_dc)
    stats = load_frames(client, [corp, *frames], strict=True, schema=DirectorySchema.read(client))
    expected = 1 + sum(f.height for f in frames)
    assert (stats.added, stats.failed) == (expected, 0)

    settings = AdSettings(
        name="corp",
        host=samba_dc.host,
        bind_dn=samba_dc.bind_dn,
        password=samba_dc.password_ref,
        ca_file=str(samba_dc.ca_file),
        tls_server_name=samba_dc.tls_server_name,
        partitions=(AdPartition(samba_dc.base_dn, include=(f"OU=Corp,{samba_ou}",)),),
        attributes=("sAMAccountName", "manager", "member", "displayName"),
    )
    result = AdConnector(settings).full_import()
    imported = {b.object_type: b.frame for b in result.batches}
    users = imported["user"]
    generated = next(f for f in frames if f.height and f["objectClass"][0].to_list()[-1] == "user")
    assert sorted(users["_dn"].to_list()) == sorted(generated["dn"].to_list())
    with_manager = generated.filter(pl.col("manager").is_not_null())
    assert with_manager.height > 0
    got = dict(zip(users["_dn"], users["manager"], strict=True))
    assert all(got[dn] == m for dn, m in zip(with_manager["dn"], with_manager["manager"], strict=True))
    client.close()
