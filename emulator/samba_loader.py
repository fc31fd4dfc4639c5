"""Put a generated forest into a directory over LDAP (the Samba DC of the tests and benchmarks).

Input is plain Polars frames, one row per object: a ``dn`` column, an ``objectClass`` column (a class
name or a list of them, AD order: ``top`` ... structural class) and one column per attribute (String,
List(String), Binary, List(Binary), Int64, Boolean; nulls and empty lists are left out). Any generator
that produces frames of that shape can be loaded.

Order matters to a directory: OUs first, parents before children; then the leaf objects; groups are
created without members, and members are added afterwards in chunks, so that groups may contain
objects (and groups) loaded later in the same call.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ldap3
import polars as pl

from flows.connectors.ldap_client import ConstraintViolationError, LdapClient

MEMBER_CHUNK = 1000
_LINKED = ("member",)  # added after every object exists


@dataclass
class LoadStats:
    added: int = 0
    existing: int = 0
    member_values: int = 0
    seconds: float = 0.0


def _classes(value: Any) -> list[str]:
    if isinstance(value, str):
        return ["top", value] if value != "top" else ["top"]
    return [str(v) for v in value]


def _ldap_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return value


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name, value in row.items():
        if name in ("dn", "objectClass", *_LINKED) or name.startswith("_") or value is None:
            continue
        if isinstance(value, list):
            if value:
                attributes[name] = [_ldap_value(v) for v in value]
        else:
            attributes[name] = _ldap_value(value)
    return attributes


def _depth(dn: str) -> int:
    return dn.count(",") - dn.count("\\,")


def load_frames(
    client: LdapClient, frames: Iterable[pl.DataFrame], *, skip_existing: bool = True
) -> LoadStats:
    """Add every object of ``frames`` to the directory ``client`` is bound to."""
    started = time.perf_counter()
    stats = LoadStats()
    rows: list[dict[str, Any]] = []
    for frame in frames:
        rows.extend(frame.to_dicts())
    containers = sorted(
        (r for r in rows if "organizationalUnit" in _classes(r["objectClass"])), key=lambda r: _depth(r["dn"])
    )
    others = [r for r in rows if "organizationalUnit" not in _classes(r["objectClass"])]
    for row in [*containers, *others]:
        try:
            client.add(row["dn"], _classes(row["objectClass"]), _attributes(row))
            stats.added += 1
        except ConstraintViolationError as exc:
            if not (skip_existing and exc.error_type == "entryAlreadyExists"):
                raise
            stats.existing += 1
    for row in rows:
        for attribute in _LINKED:
            values = row.get(attribute)
            if not values:
                continue
            for start in range(0, len(values), MEMBER_CHUNK):
                chunk = list(values[start : start + MEMBER_CHUNK])
                client.modify(row["dn"], {attribute: [(ldap3.MODIFY_ADD, chunk)]})
                stats.member_values += len(chunk)
    stats.seconds = time.perf_counter() - started
    return stats
