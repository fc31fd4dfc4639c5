"""ms-DS-ConsistencyGuid writeback: the export that fills an empty ConsistencyGuid with the objectGUID.

When ms-DS-ConsistencyGuid is the sourceAnchor, Azure AD Connect writes the objectGUID into an empty
ms-DS-ConsistencyGuid before exporting the user to Entra ID (spec 7.11). Here that is one pending
export row per user or inetOrgPerson whose ConsistencyGuid is null, with the anchor (Base64 of the
objectGUID bytes) as the new binary value.
"""

from __future__ import annotations

import polars as pl

from transforms.schema import ANCHOR, DN, EXPORT_UPDATE, OBJECT_TYPE, PENDING_EXPORT_SCHEMA

CONSISTENCY_GUID = "mS-DS-ConsistencyGuid"
USER_TYPES = ("user", "inetOrgPerson")


def consistency_guid_writeback(connector_space: pl.DataFrame, connector: str) -> pl.DataFrame:
    """Pending exports (PENDING_EXPORT_SCHEMA) writing objectGUID into empty ms-DS-ConsistencyGuid."""
    mv_id = pl.col("_mv_id") if "_mv_id" in connector_space.columns else pl.lit(None, pl.String())
    return (
        connector_space.filter(
            pl.col(OBJECT_TYPE).is_in(USER_TYPES)
            & pl.col(CONSISTENCY_GUID).is_null()
            & pl.col(ANCHOR).is_not_null()
        )
        .select(
            pl.lit(connector).alias("connector"),
            pl.col(OBJECT_TYPE).alias("object_type"),
            mv_id.alias("_mv_id"),
            pl.col(ANCHOR),
            pl.col(DN),
            pl.lit(EXPORT_UPDATE).alias("op"),
            pl.lit(CONSISTENCY_GUID).alias("attribute"),
            pl.lit("null").alias("old_value"),
            # Base64 has no character that JSON would escape.
            pl.format('{{"base64":"{}"}}', pl.col(ANCHOR)).alias("new_value"),
        )
        .cast(PENDING_EXPORT_SCHEMA)  # type: ignore[arg-type]
        .sort(ANCHOR)
    )
