"""Frame schemas shared by the pure core and the shell, as named constants.

Connector-space frames are wide: one column per imported attribute (schema casing kept), plus the
system columns below. Multi-valued attributes are ``List`` columns, binary attributes ``Binary``.
"""

from __future__ import annotations

from typing import Final

import polars as pl

# System columns of a connector-space object.
ANCHOR: Final = (
    "_anchor"  # immutable key: objectGUID (base64 of the 16 .NET-order bytes) for AD, id for Entra
)
DN: Final = "_dn"
OBJECT_TYPE: Final = "_object_type"
HASH: Final = "_hash"  # change detection over the attribute columns
PENDING: Final = "_pending"  # none | add | update | delete | delete-add
RUN_ID: Final = "_run_id"
MV_ID: Final = "_mv_id"

CS_SYSTEM_SCHEMA: Final[dict[str, pl.DataType]] = {
    ANCHOR: pl.String(),
    DN: pl.String(),
    OBJECT_TYPE: pl.String(),
    HASH: pl.UInt64(),
    PENDING: pl.String(),
    RUN_ID: pl.String(),
}

PENDING_NONE: Final = "none"
PENDING_ADD: Final = "add"
PENDING_UPDATE: Final = "update"
PENDING_DELETE: Final = "delete"
PENDING_DELETE_ADD: Final = "delete-add"

# Pending exports: one row per (target object, attribute) change. Values travel as JSON text in the
# target's terms (multi-valued = array; binary = {"base64": ...}; references = target anchors or DNs),
# because one table serves attributes of every type.
EXPORT_ADD: Final = "add"
EXPORT_UPDATE: Final = "update"
EXPORT_DELETE: Final = "delete"

PENDING_EXPORT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "object_type": pl.String(),  # target object type: user, group, contact, device, ...
    "_mv_id": pl.String(),
    "_anchor": pl.String(),  # target anchor; null for an object not yet created
    "_dn": pl.String(),
    "op": pl.String(),  # add | update | delete (object-level modification type)
    "attribute": pl.String(),  # null on a delete row
    "old_value": pl.String(),  # JSON
    "new_value": pl.String(),  # JSON
}

# Outcomes of applying an export plan: one row per target object.
EXPORT_RESULT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "connector": pl.String(),
    "_mv_id": pl.String(),
    "_anchor": pl.String(),  # the anchor the target assigned (creates) or already had
    "op": pl.String(),
    "status": pl.String(),  # success | error
    "error_type": pl.String(),  # AttributeValueMustBeUnique, InvalidSoftMatch, ObjectTypeMismatch, ...
    "transient": pl.Boolean(),
    "message": pl.String(),
}
