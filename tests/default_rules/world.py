"""Small literal forests and an Entra tenant run through the real engine with the default rules.

A forest is ``{object class: [row, ...]}`` with AD attribute names; the builders fill in what every
object has (objectGUID, objectSid, DN) deterministically from the forest and the cn, so the tests state
only the attributes their behaviour depends on.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from tests.default_rules.ruleset import load_default_rules
from transforms.rules import SyncRule
from transforms.schema import ANCHOR, EXPORT_RESULT_SCHEMA, MV_ID
from transforms.sync.engine import run_sync
from transforms.sync.exports import apply_export_results, record_exports
from transforms.sync.state import SyncResult, SyncState

AAD = "aad"

DTYPES: dict[str, pl.DataType] = {
    "objectGUID": pl.Binary(),
    "objectSid": pl.Binary(),
    "mS-DS-ConsistencyGuid": pl.Binary(),
    "msExchMasterAccountSid": pl.Binary(),
    "msRTCSIP-OriginatorSid": pl.Binary(),
    "mS-DS-CreatorSID": pl.Binary(),
    "userCertificate": pl.List(pl.Binary()),
    "userAccountControl": pl.Int64(),
    "groupType": pl.Int64(),
    "pwdLastSet": pl.Int64(),
    "msExchRecipientTypeDetails": pl.Int64(),
    "isCriticalSystemObject": pl.Boolean(),
    "msExchHideFromAddressLists": pl.Boolean(),
    "proxyAddresses": pl.List(pl.String()),
    "member": pl.List(pl.String()),
    "description": pl.List(pl.String()),
    "otherTelephone": pl.List(pl.String()),
    # Entra connector space
    "accountEnabled": pl.Boolean(),
    "onPremisesSyncEnabled": pl.Boolean(),
    "members": pl.List(pl.String()),
}

GROUP_GLOBAL_SECURITY = -2147483646
GROUP_UNIVERSAL_SECURITY = -2147483640
GROUP_UNIVERSAL_DISTRIBUTION = 8
NORMAL = 512
DISABLED = 514


def guid(*parts: str) -> bytes:
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)).bytes_le


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def sid(domain: int, rid: int) -> bytes:
    sub = (21, 1000 + domain, 2000 + domain, 3000 + domain, rid)
    return bytes([1, len(sub)]) + (5).to_bytes(6, "big") + b"".join(struct.pack("<I", s) for s in sub)


def sid_string(domain: int, rid: int) -> str:
    return f"S-1-5-21-{1000 + domain}-{2000 + domain}-{3000 + domain}-{rid}"


@dataclass(frozen=True)
class Forest:
    """One AD forest (single domain) and how its objects are named."""

    name: str  # connector name
    fqdn: str
    index: int = 1

    @property
    def ldap(self) -> str:
        return ",".join(f"DC={p}" for p in self.fqdn.split("."))

    @property
    def netbios(self) -> str:
        return self.fqdn.split(".")[0].upper()

    def params(self) -> dict[str, str]:
        return {
            "Domain.FQDN": self.fqdn,
            "Domain.Netbios": self.netbios,
            "Domain.LDAP": self.ldap,
            "Forest.FQDN": self.fqdn,
            "Forest.Netbios": self.netbios,
            "Forest.LDAP": self.ldap,
        }

    def dn(self, cn: str, ou: str = "Users") -> str:
        return f"CN={cn},OU={ou},{self.ldap}"

    def guid(self, cn: str) -> bytes:
        return guid(self.name, cn)

    def anchor(self, cn: str) -> str:
        return b64(self.guid(cn))

    def _base(self, cn: str, rid: int | None, ou: str, attrs: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"cn": cn, "objectGUID": self.guid(cn), "_dn": self.dn(cn, ou)}
        if rid is not None:
            row["objectSid"] = sid(self.index, rid)
        row.update(attrs)
        row[ANCHOR] = b64(row["objectGUID"])
        return row

    def user(self, cn: str, rid: int, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("sAMAccountName", cn.lower())
        attrs.setdefault("userAccountControl", NORMAL)
        return self._base(cn, rid, "Users", attrs)

    def group(self, cn: str, rid: int, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("sAMAccountName", cn)
        attrs.setdefault("groupType", GROUP_GLOBAL_SECURITY)
        return self._base(cn, rid, "Groups", attrs)

    def contact(self, cn: str, **attrs: Any) -> dict[str, Any]:
        return self._base(cn, None, "Contacts", attrs)

    def computer(self, cn: str, rid: int, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("sAMAccountName", cn.upper() + "$")
        attrs.setdefault("userAccountControl", 4096)
        return self._base(cn, rid, "Computers", attrs)


# An AD connector space has a column for every attribute of its inclusion list, typed by the attribute
# types table, whether or not any object has a value: the typed ones matter to the expressions.
AD_TYPED = (
    "objectGUID", "objectSid", "mS-DS-ConsistencyGuid", "msExchMasterAccountSid", "msRTCSIP-OriginatorSid",
    "mS-DS-CreatorSID", "userCertificate", "userAccountControl", "groupType", "pwdLastSet",
    "msExchRecipientTypeDetails", "isCriticalSystemObject", "msExchHideFromAddressLists", "proxyAddresses",
    "member", "description", "otherTelephone",
)  # fmt: skip


def frame(rows: Sequence[Mapping[str, Any]], *, ad: bool = True) -> pl.DataFrame:
    names: dict[str, None] = dict.fromkeys(AD_TYPED) if ad else {}
    for row in rows:
        names.update(dict.fromkeys(row))
    schema = {n: DTYPES.get(n, pl.String()) for n in names}
    return pl.DataFrame([{n: row.get(n) for n in names} for row in rows], schema=schema, orient="row")


@dataclass(frozen=True)
class World:
    """The state after a sync, with lookups the scenario tests read."""

    result: SyncResult

    @property
    def state(self) -> SyncState:
        return self.result.state

    def mv(self, mv_type: str = "person") -> pl.DataFrame:
        return self.state.metaverse.get(mv_type, pl.DataFrame(schema={MV_ID: pl.String()}))

    def person(self, anchor: str, connector: str) -> dict[str, Any]:
        """The metaverse object the connector-space object ``anchor`` of ``connector`` is joined to."""
        links = self.state.links.filter(
            (pl.col("connector") == connector)
            & (pl.col(ANCHOR) == anchor)
            & (pl.col("direction") == "inbound")
        )
        assert links.height == 1, f"{connector}/{anchor} is joined to {links.height} metaverse objects"
        mv_id, mv_type = links.row(0)[links.columns.index(MV_ID)], links["mv_object_type"][0]
        rows = self.mv(mv_type).filter(pl.col(MV_ID) == mv_id).to_dicts()
        assert len(rows) == 1
        return rows[0]

    def exports(self, object_type: str | None = None, connector: str = AAD) -> pl.DataFrame:
        pending = self.result.pending_exports.filter(pl.col("connector") == connector)
        if object_type is not None:
            pending = pending.filter(pl.col("object_type") == object_type)
        return pending.sort([MV_ID, "attribute"], nulls_last=True)

    def exported(self, mv_id: str, connector: str = AAD) -> dict[str, Any]:
        """``{attribute: decoded new value}`` of one object's pending export (``op`` under ``"__op"``)."""
        rows = self.exports(connector=connector).filter(pl.col(MV_ID) == mv_id)
        out: dict[str, Any] = {"__op": rows["op"].unique().to_list()}
        for row in rows.iter_rows(named=True):
            if row["attribute"] is not None:
                out[row["attribute"]] = None if row["new_value"] is None else json.loads(row["new_value"])
        return out

    def errors(self) -> list[tuple[str | None, str | None, str | None]]:
        return sorted(
            (r["rule"], r["error_type"], r["message"]) for r in self.result.errors.iter_rows(named=True)
        )

    def export_succeeds(self) -> SyncState:
        """The state after the Entra connector created every pending add (ids ``aad-<mv id>``)."""
        adds = self.exports().filter(pl.col("op") == "add").select(MV_ID).unique()
        results = adds.select(
            pl.lit(AAD).alias("connector"),
            MV_ID,
            pl.concat_str(pl.lit("aad-"), pl.col(MV_ID)).alias(ANCHOR),
            pl.lit("add").alias("op"),
            pl.lit("success").alias("status"),
        )
        results = results.with_columns(
            pl.lit(None, dtype=t).alias(c)
            for c, t in EXPORT_RESULT_SCHEMA.items()
            if c not in results.columns
        ).select(list(EXPORT_RESULT_SCHEMA))
        return apply_export_results(record_exports(self.state, self.result.pending_exports), results)


def sync(
    forests: Mapping[Forest, Mapping[str, Sequence[Mapping[str, Any]]]],
    *,
    aad: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    user_matching: str = "objects-once",
    custom: Sequence[tuple[str, str]] = (),
    state: SyncState | None = None,
    rules: Sequence[SyncRule] | None = None,
    typed_columns: bool = True,
) -> World:
    """A full sync of ``forests`` (in connector order) and the Entra connector space ``aad``.

    ``typed_columns=False`` gives the AD connector spaces columns only for the attributes some object
    has (as an LDIF snapshot does) instead of the typed inclusion-list columns.
    """
    spaces: dict[str, dict[str, pl.DataFrame]] = {
        f.name: {t: frame(rows, ad=typed_columns) for t, rows in objects.items() if rows}
        for f, objects in forests.items()
    }
    spaces[AAD] = {t: frame(rows, ad=False) for t, rows in (aad or {}).items() if rows}
    base = state or SyncState()
    state = replace(base, connector_spaces={**base.connector_spaces, **spaces})
    connectors = {f.name: "ad" for f in forests} | {AAD: "aad"}
    params = {f.name: f.params() for f in forests}
    result = run_sync(
        state,
        rules if rules is not None else load_default_rules(user_matching, extra=list(custom)),
        connectors=connectors,
        params_by_connector=params,
    )
    return World(result)
