"""The neighbourhood a preview syncs, on literal frames: links, join candidates both ways, references."""

from __future__ import annotations

import polars as pl

from transforms.ops.preview_scope import preview_state
from transforms.rules import load_rule_text
from transforms.sync import SyncState, bind_rules
from transforms.sync.schema import LINKS_SCHEMA

JOIN_RULE = """
name: Custom - In from AAD - User Join
connector: {kind: [aad]}
direction: inbound
source_object_type: user
target_object_type: person
link_type: Join
precedence: 19
join:
  - - {source: onPremisesImmutableId, target: sourceAnchor}
flows:
  - destination: cloudAnchor
    expression: '[_anchor]'
"""


def _link(connector: str, anchor: str, mv_id: str, dn: str | None = None) -> dict[str, object]:
    return {"connector": connector, "object_type": "user", "_anchor": anchor, "_dn": dn, "_mv_id": mv_id}


def _state() -> SyncState:
    corp = pl.DataFrame(
        {
            "_anchor": ["a", "b", "m", "x"],
            "_dn": ["CN=A,DC=corp", "CN=B,DC=corp", "CN=M,DC=corp", "CN=X,DC=corp"],
            "_object_type": ["user"] * 4,
            "manager": ["cn=m,dc=corp", None, None, None],
        }
    )
    aad = pl.DataFrame(
        {
            "_anchor": ["e1", "e2"],
            "_dn": [None, None],
            "_object_type": ["user", "user"],
            "onPremisesImmutableId": ["SA-A", "SA-B"],
        }
    )
    person = pl.DataFrame(
        {"_mv_id": ["pa", "pb", "pm", "px"], "sourceAnchor": ["SA-A", "SA-B", "SA-M", "SA-X"]}
    )
    links = pl.DataFrame(
        [
            _link("corp", "a", "pa", "CN=A,DC=corp"),
            _link("corp", "b", "pb", "CN=B,DC=corp"),
            _link("corp", "m", "pm", "CN=M,DC=corp"),
            _link("corp", "x", "px", "CN=X,DC=corp"),
        ]
    ).with_columns(
        pl.lit(None, pl.String).alias(c) for c in ("mv_object_type", "rule", "link_type", "direction")
    )
    links = links.with_columns(pl.lit(True).alias("sustains"), pl.lit(False).alias("anchor_assigned"))
    return SyncState(
        connector_spaces={"corp": {"user": corp}, "aad": {"user": aad}},
        metaverse={"person": person},
        links=links.select(list(LINKS_SCHEMA)).cast(dict(LINKS_SCHEMA)),
    )


def _kept(state: SyncState) -> tuple[list[str], list[str], list[str]]:
    return (
        sorted(state.metaverse["person"]["_mv_id"]),
        sorted(state.connector_spaces["corp"]["user"]["_anchor"]),
        sorted(state.connector_spaces["aad"]["user"]["_anchor"]),
    )


def test_the_neighbourhood_holds_the_object_its_join_candidate_and_its_manager() -> None:
    """User A: its person, the Entra disconnector that would join it (same sourceAnchor), and the
    manager it references with the manager's person; not B, X or B's Entra object."""
    rules = bind_rules(
        [load_rule_text(JOIN_RULE, "join.yaml")], ["corp", "aad"], {"corp": "ad", "aad": "aad"}
    )
    keys = pl.DataFrame({"connector": ["corp"], "_anchor": ["a"]})
    state = preview_state(_state(), rules, mv_ids=[], cs_keys=keys)
    assert _kept(state) == (["pa", "pm"], ["a", "m"], ["e1"])
    assert sorted(state.links["_anchor"]) == ["a", "m"]


def test_a_disconnector_brings_the_metaverse_object_it_would_join() -> None:
    """Entra object e2 (not joined yet): the person whose sourceAnchor it carries, and that person's
    AD object, are in its neighbourhood."""
    rules = bind_rules(
        [load_rule_text(JOIN_RULE, "join.yaml")], ["corp", "aad"], {"corp": "ad", "aad": "aad"}
    )
    keys = pl.DataFrame({"connector": ["aad"], "_anchor": ["e2"]})
    state = preview_state(_state(), rules, mv_ids=[], cs_keys=keys)
    assert _kept(state) == (["pb"], ["b"], ["e2"])
