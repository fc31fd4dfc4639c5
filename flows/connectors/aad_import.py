"""Import from Entra ID: delta-query rounds parsed straight into frames.

A full import is a fresh delta round; a delta import resumes from the stored ``@odata.deltaLink``,
which is the watermark (one per object type). Rows of a delta round carry at least the changed
properties (Graph's contract), so delta batches are marked ``partial``.

Group membership: a full round gives the complete ``members`` list; a delta round gives the member
changes as ``members@add`` / ``members@remove`` (object ids), because ``members@delta`` is a change
list, not an image. A user's ``manager`` (``$select=manager``) comes as ``manager@delta``: the manager's
object id when set (a fresh round names the current one), an entry marked ``@removed`` when it was taken
away; it is imported as the ``manager`` column (the manager's object id, the reference the export writes).
Delta rows name the properties the service returned in ``_changed`` (a returned
null is a cleared value; a property not returned is unchanged): the staging conventions of
:mod:`transforms.sync.staging`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import polars as pl

from flows.connectors.aad_settings import ON_PREM_EXTENSION_ATTRIBUTES, ON_PREM_EXTENSION_KEYS
from flows.connectors.base import ImportBatch
from flows.connectors.graph_client import GraphClient
from transforms.sync.staging import CHANGED, INCREMENTAL_ADD, INCREMENTAL_REMOVE

COLLECTION = {"user": "users", "group": "groups", "contact": "contacts", "device": "devices"}
LIST_ATTRIBUTES = frozenset({"businessPhones", "proxyAddresses", "otherMails", "groupTypes", "imAddresses"})
BOOL_ATTRIBUTES = frozenset(
    {
        "accountEnabled",
        "mailEnabled",
        "securityEnabled",
        "onPremisesSyncEnabled",
        "showInAddressList",
        "isAssignableToRole",
    }
)
MEMBERS = "members"
MEMBERS_ADDED = MEMBERS + INCREMENTAL_ADD
MEMBERS_REMOVED = MEMBERS + INCREMENTAL_REMOVE
MANAGER = "manager"


def _dtype(attribute: str) -> pl.DataType:
    if attribute in LIST_ATTRIBUTES or attribute in (MEMBERS, MEMBERS_ADDED, MEMBERS_REMOVED):
        return pl.List(pl.String())
    if attribute in BOOL_ATTRIBUTES:
        return pl.Boolean()
    return pl.String()


def _cell(value: Any, dtype: pl.DataType) -> Any:
    """Graph JSON value -> cell: complex values (objects, lists of objects) travel as JSON text."""
    if value is None:
        return None
    if isinstance(dtype, pl.List):
        return [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in value]
    if isinstance(dtype, pl.Boolean):
        return bool(value)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@dataclass
class DeltaRound:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    added: dict[str, dict[str, None]] = field(default_factory=dict)
    removed_members: dict[str, dict[str, None]] = field(default_factory=dict)
    deleted: dict[str, None] = field(default_factory=dict)
    delta_link: str | None = None


def delta_start_path(object_type: str, select: tuple[str, ...]) -> str:
    return f"{COLLECTION[object_type]}/delta?$select=" + quote(",".join(select), safe=",")


def _manager_id(entries: list[Any]) -> str | None:
    """The manager a ``manager@delta`` names: the last entry not ``@removed``; None when it was removed."""
    current: str | None = None
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            current = None if "@removed" in entry else entry["id"]
    return current


async def read_delta_round(graph: GraphClient, start: str) -> DeltaRound:
    """Follow one delta round from ``start`` (a path or a deltaLink) to its deltaLink."""
    result = DeltaRound()
    async for page in graph.pages(start):
        for item in page.get("value", []):
            object_id = item.get("id")
            if not isinstance(object_id, str):
                continue
            if "@removed" in item:
                result.deleted[object_id] = None
                result.rows.pop(object_id, None)
                continue
            result.deleted.pop(object_id, None)
            members = item.pop("members@delta", None)
            manager = item.pop("manager@delta", None)
            if isinstance(manager, list):
                item[MANAGER] = _manager_id(manager)
            # The same object may come more than once in a round (changed while paging, or a large
            # group's members split over several entries): later properties win, members accumulate.
            result.rows.setdefault(object_id, {}).update(item)
            if members is not None:
                added = result.added.setdefault(object_id, {})
                removed = result.removed_members.setdefault(object_id, {})
                for member in members:
                    member_id = member.get("id")
                    if not isinstance(member_id, str):
                        continue
                    if "@removed" in member:
                        added.pop(member_id, None)
                        removed[member_id] = None
                    else:
                        removed.pop(member_id, None)
                        added[member_id] = None
        link = page.get("@odata.deltaLink")
        if isinstance(link, str):
            result.delta_link = link
    return result


def round_to_batch(
    object_type: str,
    select: tuple[str, ...],
    rnd: DeltaRound,
    *,
    full: bool,
    extensions: dict[str, tuple[str, bool]] | None = None,
) -> ImportBatch:
    """One import batch from a delta round.

    ``extensions`` maps the full name of a directory extension in ``select`` to ``(column, multi-valued)``:
    the column is ``extension_<name>`` (the rules' name). ``onPremisesExtensionAttributes`` unfolds into
    ``onPremisesExtensionAttributes.extensionAttributeN`` columns (the rules' destinations).
    """
    extensions = extensions or {}
    attributes = [
        a for a in select if a != MEMBERS and a != ON_PREM_EXTENSION_ATTRIBUTES and not a.startswith("@")
    ]
    ids = sorted(rnd.rows)
    columns: dict[str, list[Any]] = {
        "_anchor": ids,
        "_dn": [None] * len(ids),
        "_object_type": [object_type] * len(ids),
    }
    schema: dict[str, pl.DataType] = {"_anchor": pl.String(), "_dn": pl.String(), "_object_type": pl.String()}
    for attribute in attributes:
        column = attribute
        dtype = _dtype(attribute)
        if attribute in extensions:
            column, multi = extensions[attribute]
            dtype = pl.List(pl.String()) if multi else pl.String()
        schema[column] = dtype
        columns[column] = [_cell(rnd.rows[i].get(attribute), dtype) for i in ids]
    if ON_PREM_EXTENSION_ATTRIBUTES in select:
        nested = [rnd.rows[i].get(ON_PREM_EXTENSION_ATTRIBUTES) or {} for i in ids]
        for key in ON_PREM_EXTENSION_KEYS:
            column = f"{ON_PREM_EXTENSION_ATTRIBUTES}.{key}"
            schema[column] = pl.String()
            columns[column] = [n.get(key) if isinstance(n, dict) else None for n in nested]
    if object_type == "group" and MEMBERS in select:
        if full:
            schema[MEMBERS] = _dtype(MEMBERS)
            columns[MEMBERS] = [list(rnd.added.get(i, {})) for i in ids]
        else:
            schema[MEMBERS_ADDED] = _dtype(MEMBERS_ADDED)
            schema[MEMBERS_REMOVED] = _dtype(MEMBERS_REMOVED)
            columns[MEMBERS_ADDED] = [list(rnd.added.get(i, {})) for i in ids]
            columns[MEMBERS_REMOVED] = [list(rnd.removed_members.get(i, {})) for i in ids]
    if not full:
        returned: list[list[str]] = []
        for i in ids:  # one list per changed object: the names Graph returned, mapped to our columns
            row = rnd.rows[i]
            names = [extensions[a][0] if a in extensions else a for a in attributes if a in row]
            if ON_PREM_EXTENSION_ATTRIBUTES in row:
                nested_now = row.get(ON_PREM_EXTENSION_ATTRIBUTES) or {}
                names += [
                    f"{ON_PREM_EXTENSION_ATTRIBUTES}.{k}" for k in ON_PREM_EXTENSION_KEYS if k in nested_now
                ]
            returned.append(names)
        schema[CHANGED] = pl.List(pl.String())
        columns[CHANGED] = returned
    frame = pl.DataFrame(columns, schema=schema)
    deleted = pl.Series("_anchor", sorted(rnd.deleted), dtype=pl.String)
    return ImportBatch(object_type, frame, deleted=deleted, partition=object_type, partial=not full)
