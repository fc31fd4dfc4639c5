"""The sync stage gives each object the ``%Domain.*%`` values of its own partition (a two-domain forest)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from emulator.forest import generate_forest
from emulator.ldif import to_ldif
from flows.config import parse_config
from flows.connectors.ldif import parse_ldif
from flows.rulesets import load_rule_set
from flows.stages.syncing import connector_parameters, partition_parameters, synchronize
from flows.store import Store
from tests.lab import RULES


def _config(folder: Path, partitions: list[tuple[str, str, str]]) -> str:
    listed = "".join(
        f"      - {{dn: '{dn}', fqdn: {fqdn}, netbios: {netbios}}}\n" for dn, fqdn, netbios in partitions
    )
    return f"""
store: {folder / "state.duckdb"}
rules: [{RULES}]
connectors:
  - name: corp
    kind: ad
    host: 127.0.0.1
    bind_dn: CN=sync,CN=Users,DC=corp,DC=example,DC=com
    password: env:UNUSED
    partitions:
{listed}"""


def test_config_gives_per_partition_domain_parameters(tmp_path: Path) -> None:
    config = parse_config(
        _config(
            tmp_path,
            [
                ("DC=corp,DC=example,DC=com", "corp.example.com", "CORP"),
                ("DC=d2,DC=corp,DC=example,DC=com", "d2.corp.example.com", "D2"),
            ],
        ),
        "forestsync.yaml",
    )
    wide = connector_parameters(config)["corp"]
    assert wide["Domain.FQDN"] == "corp.example.com" and wide["Forest.FQDN"] == "corp.example.com"
    assert partition_parameters(config) == {
        "corp": [
            (
                "DC=corp,DC=example,DC=com",
                {
                    "Domain.FQDN": "corp.example.com",
                    "Domain.Netbios": "CORP",
                    "Domain.LDAP": "DC=corp,DC=example,DC=com",
                },
            ),
            (
                "DC=d2,DC=corp,DC=example,DC=com",
                {
                    "Domain.FQDN": "d2.corp.example.com",
                    "Domain.Netbios": "D2",
                    "Domain.LDAP": "DC=d2,DC=corp,DC=example,DC=com",
                },
            ),
        ]
    }


def test_sync_stage_builds_upns_with_each_users_own_domain(tmp_path: Path) -> None:
    """Users without a userPrincipalName in the child domain get its suffix, not the first partition's."""
    forest = generate_forest(40, 4, 2, seed=3)
    partitions = [(d.dn, d.dns_name, d.netbios) for d in forest.domains]
    config = parse_config(_config(tmp_path, partitions), "forestsync.yaml")
    frames = parse_ldif(to_ldif(forest), name="corp.ldif").frames
    # As an AD import hands it over: no UPN on these accounts, so the rules build one.
    frames["user"] = frames["user"].with_columns(pl.lit(None, dtype=pl.String).alias("userPrincipalName"))
    rules = load_rule_set([RULES], {"user_matching": "objects-once"})
    with Store(config.store) as store:
        for object_type, frame in frames.items():
            store.write_connector_space("corp", object_type, frame)
        synchronize(store, config, rules, cycle_id="c", mode="full")
        persons = store.read_metaverse("person")
        links = store.query("SELECT _mv_id, _dn FROM links WHERE connector = 'corp' AND object_type = 'user'")
    assert persons is not None
    users = frames["user"].select("_dn", "sAMAccountName")
    got = (
        persons.join(links, on="_mv_id")
        .join(users, on="_dn")
        .filter(pl.col("userPrincipalName").is_not_null())
        .select("_dn", "sAMAccountName", "userPrincipalName", "domainFQDN", "domainNetBios", "forestFQDN")
    )
    in_child = pl.col("_dn").str.to_lowercase().str.ends_with(",dc=d2,dc=corp,dc=example,dc=com")
    child, parent = got.filter(in_child), got.filter(~in_child)
    assert child.height >= 5 and parent.height >= 5
    assert child["userPrincipalName"].to_list() == [
        f"{s}@d2.corp.example.com" for s in child["sAMAccountName"]
    ]
    assert parent["userPrincipalName"].to_list() == [
        f"{s}@corp.example.com" for s in parent["sAMAccountName"]
    ]
    assert set(child["domainFQDN"]) == {"d2.corp.example.com"} and set(child["domainNetBios"]) == {"D2"}
    assert set(parent["domainFQDN"]) == {"corp.example.com"} and set(parent["domainNetBios"]) == {"CORP"}
    # Forest.* is connector-wide: the first partition's DNS name (no `forest` configured).
    assert set(got["forestFQDN"]) == {"corp.example.com"}
