"""The demo forest of the generator, through an LDIF snapshot and the LDIF connector's parser, synced
with the default rules: what Azure AD Connect filters is filtered, everything else is exported."""

from __future__ import annotations

import polars as pl

from emulator.forest import generate_forest
from emulator.ldif import to_ldif
from flows.connectors.attribute_types import ATTRIBUTE_TYPES
from flows.connectors.ldif import parse_ldif
from tests.default_rules.ruleset import load_default_rules
from transforms.sync.engine import run_sync
from transforms.sync.state import SyncResult, SyncState


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    """The connector space as the import stage should hand it over: a typed column for every attribute
    of the shared attribute-types table, present or not in the snapshot."""
    return frame.with_columns(
        pl.lit(None, dtype=t.dtype).alias(t.name)
        for t in ATTRIBUTE_TYPES.values()
        if t.name not in frame.columns
    )


def _sync(*, typed: bool) -> tuple[dict[str, pl.DataFrame], SyncResult]:
    forest = generate_forest(users=200, groups=20, seed=7)
    frames = parse_ldif(to_ldif(forest), name="corp.ldif").frames
    if typed:
        frames = {t: _typed(f) for t, f in frames.items()}
    domain = forest.domains[0]
    params = {
        "corp": {
            "Domain.FQDN": domain.dns_name,
            "Domain.Netbios": domain.netbios,
            "Domain.LDAP": domain.dn,
            "Forest.FQDN": domain.dns_name,
            "Forest.Netbios": domain.netbios,
            "Forest.LDAP": domain.dn,
        }
    }
    result = run_sync(
        SyncState(connector_spaces={"corp": frames}),
        load_default_rules(),
        connectors={"corp": "ldif", "aad": "aad"},
        params_by_connector=params,
    )
    return frames, result


def test_the_generated_forest_syncs_like_a_fresh_install() -> None:
    frames, result = _sync(typed=True)
    person, group = result.state.metaverse["person"], result.state.metaverse["group"]
    filtered = person.filter(pl.col("cloudFiltered")).get_column("cn").to_list()
    exported = result.pending_exports.select("_mv_id", "object_type").unique()

    assert result.errors.height == 0
    assert all(
        n.startswith(("MSOL_", "AAD_", "SystemMailbox{", "DiscoverySearchMailbox{"))
        or "\nCNF:" in n
        or "(MSOL)" in n
        for n in filtered
    ), filtered
    assert {n.split("_")[0] for n in filtered if "_" in n and "\n" not in n} >= {"MSOL", "AAD"}
    assert any("\nCNF:" in n for n in filtered) and any(n.startswith("SystemMailbox{") for n in filtered)
    assert (
        group.filter(pl.col("cloudFiltered")).get_column("cn").str.contains("Organization Management").any()
    )
    # Critical system objects (Administrator, krbtgt, Domain Admins, ...) are never projected.
    critical = frames["user"].filter(pl.col("isCriticalSystemObject").fill_null(False)).get_column("_anchor")
    assert critical.len() >= 3
    assert result.state.links.filter(pl.col("_anchor").is_in(critical.implode())).height == 0
    # Every person that is not filtered is exported, except linked mailboxes without an account.
    not_exported = person.join(exported, on="_mv_id", how="anti").filter(pl.col("cloudFiltered").is_null())
    assert not_exported.get_column("msExchRecipientTypeDetails").to_list() == [2] * not_exported.height
    assert (
        exported.filter(
            pl.col("_mv_id").is_in(person.filter(pl.col("cloudFiltered")).get_column("_mv_id").implode())
        ).height
        == 0
    )
    counts = dict(exported.group_by("object_type").len().iter_rows())
    assert counts["group"] == group.filter(pl.col("cloudFiltered").is_null()).height
    assert (
        counts["device"] == result.state.metaverse["device"].filter(pl.col("cloudFiltered").is_null()).height
    )
    assert counts["user"] + counts["contact"] == person.height - len(filtered) - not_exported.height


def test_the_generated_forest_syncs_straight_from_the_ldif_parser() -> None:
    """An LDIF snapshot has columns only for the attributes some entry has: the engine types the others
    from the frames that have them (thumbnailPhoto), or as untyped NULLs (mS-DS-ConsistencyGuid), and
    exports exactly what the fully typed snapshot exports."""
    _, result = _sync(typed=False)
    assert result.errors.height == 0
    _, typed = _sync(typed=True)
    columns = ["_mv_id", "object_type", "op", "attribute", "new_value"]
    assert sorted(result.pending_exports.select(columns).rows(), key=str) == sorted(
        typed.pending_exports.select(columns).rows(), key=str
    )
