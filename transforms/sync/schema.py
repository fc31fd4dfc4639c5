"""Frame schemas of the sync state, as named constants (the store saves them table by table).

Connector spaces are ``{connector: {object_type: frame}}``: one wide frame per connector and object
type with the system columns of :data:`transforms.schema.CS_SYSTEM_SCHEMA` (``_anchor``, ``_dn``,
``_object_type``, ``_hash``, ``_pending``, optional ``_run_id``) plus one column per attribute. The
frame holds the *imported* (confirmed) image; rows with ``_pending == "delete"`` are tombstones the
next sync consumes. The metaverse is ``{mv_object_type: frame}`` keyed by ``_mv_id``, one column per
attribute; reference attributes hold ``_mv_id`` values.
"""

from __future__ import annotations

from typing import Final

import polars as pl

# One row per joined connector-space object (a "connector"). An object provisioned outbound but not
# yet created in the target has a null ``_anchor`` and the DN it was provisioned with (if any).
LINKS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "object_type": pl.String(),  # connector-space object type
    "_anchor": pl.String(),
    "_dn": pl.String(),
    "_mv_id": pl.String(),
    "mv_object_type": pl.String(),
    "rule": pl.String(),  # the rule that joined or projected/provisioned
    "link_type": pl.String(),  # Join | Provision | StickyJoin
    "direction": pl.String(),  # inbound | outbound: which side created the link
    # True while an inbound Provision/StickyJoin rule is in scope for the object (MV lifetime, 1.4).
    "sustains": pl.Boolean(),
    # Set when an export result gave the link its anchor; the next sync re-resolves the outbound
    # references to this object (they could only name it once it existed) and clears the flag.
    "anchor_assigned": pl.Boolean(),
}

# The provenance of each metaverse value: which rule of which connector contributed it. A merged
# attribute has one row per contributing rule.
# ``attribute``, ``connector`` and ``rule`` are Categorical: the frame has one row per metaverse value
# (tens of millions at a million users) and those columns repeat a few hundred names.
PROVENANCE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "_mv_id": pl.String(),
    "attribute": pl.Categorical(),
    "connector": pl.Categorical(),
    "rule": pl.Categorical(),
}

# Export memory: values exported to a target (JSON text, as in pending exports) and not yet
# confirmed by an import. One row per (connector, metaverse object, attribute).
EXPORT_MEMORY_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "_mv_id": pl.String(),
    "attribute": pl.String(),
    "value": pl.String(),
}

# Reference values of connector-space objects (DNs lower-cased, as DNs compare case-insensitively): lets a
# delta sync find the objects whose references resolve or break when a referenced object is joined or
# disjoined, and the objects whose group membership changed (ISMEMBEROF scoping).
REFERENCE_INDEX_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "_anchor": pl.String(),
    "target_dn": pl.String(),
}

# Connector-space objects with a staged delete export (deprovisioned: their metaverse object was deleted or
# left the outbound Provision rule's scope). Such an object stays a disconnector marked for deletion, never
# joined or projected, until an import confirms the deletion (or reports the object as a fresh add).
# ``exported``: the delete was sent (an export recorded it); until then every sync lists it again.
STAGED_DELETES_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "object_type": pl.String(),
    "_anchor": pl.String(),
    "_dn": pl.String(),
    "_mv_id": pl.String(),  # the deleted (or departed) metaverse object the delete export names
    "exported": pl.Boolean(),
}

# The connector-space objects a sync left unjoined (disconnectors): a delta sync re-evaluates them all
# (spec 1: every disconnector is re-evaluated each cycle) without an anti-join of every connector space
# against the links.
DISCONNECTORS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "object_type": pl.String(),
    "_anchor": pl.String(),
}

SYNC_ERRORS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "object_type": pl.String(),
    "_anchor": pl.String(),
    "_mv_id": pl.String(),
    "rule": pl.String(),
    "error_type": pl.String(),
    "message": pl.String(),
}

# Run-history counters (names of the product's run-history XML, spec 1.6).
COUNTERS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "step": pl.String(),  # inbound | outbound
    "counter": pl.String(),
    "value": pl.Int64(),
}

ERROR_FUNCTION_TRIGGERED: Final = "sync-rule-error-function-triggered"
ERROR_AMBIGUOUS_JOIN: Final = "ambiguous-join"
ERROR_MULTIPLE_JOINING_RULES: Final = "multiple-joining-rules"

# DN-valued attributes: resolved to metaverse ids inbound and to target anchors/DNs outbound.
DEFAULT_REFERENCE_ATTRIBUTES: Final = frozenset(
    {
        "member",
        "manager",
        "managedBy",
        "assistant",
        "secretary",
        "directReports",
        "publicDelegates",
        "altRecipient",
        "authOrig",
        "unauthOrig",
        "dLMemSubmitPerms",
        "dLMemRejectPerms",
        "msExchCoManagedByLink",
        "msExchDelegateListLink",
        # The Entra ID connector's group members (Graph name), written by Out to AAD - Group Join.
        "members",
    }
)


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
