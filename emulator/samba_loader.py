"""Put a generated forest into a directory over LDAP (the Samba DC of the tests and benchmarks).

Input is plain Polars frames, one row per object: a ``dn`` column, an ``objectClass`` column (a class
name or a list of them, AD order: ``top`` ... structural class) and one column per attribute (String,
List(String), Binary, List(Binary), Int64, Boolean; nulls and empty lists are left out). Any generator
that produces frames of that shape can be loaded; :func:`load_forest` takes the
:class:`emulator.forest.Forest` of ``emulator/forest.py``.

Order matters to a directory: OUs first, parents before children; then the leaf objects; groups are
created without members, and members are added afterwards in chunks, so that groups may contain
objects (and groups) loaded later in the same call.

Values only the directory may set (objectGUID, objectSid, isCriticalSystemObject, pwdLastSet other
than 0, back links, ...) are left out: the DC assigns its own. An account is created with
PASSWD_NOTREQD added to its userAccountControl, since it has no password.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ldap3
import polars as pl

from flows.connectors.ldap_client import (
    ConstraintViolationError,
    LdapClient,
    LdapEndpoint,
    LdapTerminalError,
    NoSuchObjectError,
    values_of,
)
from transforms.sync.ou_scope import normalize_dn

if TYPE_CHECKING:
    from emulator.samba_dc import SambaDC

log = logging.getLogger(__name__)

MEMBER_CHUNK = 1000
_LINKED = ("member", "manager", "managedBy")  # references: set after every object exists
# Set by the directory, not by a client (or only to special values): never sent.
SYSTEM_ONLY = frozenset(
    a.lower()
    for a in (
        "objectGUID",
        "objectSid",
        "objectCategory",
        "isCriticalSystemObject",
        "whenCreated",
        "whenChanged",
        "uSNChanged",
        "uSNCreated",
        "memberOf",
        "directReports",
        "distinguishedName",
        "name",
        "cn",  # the RDN of the DN says it
        "instanceType",
        "sAMAccountType",
        "primaryGroupID",
        "pwdLastSet",
        "lastLogonTimestamp",
        "badPasswordTime",
        "lockoutTime",
        "sIDHistory",
        "mS-DS-CreatorSID",
        "isDeleted",
    )
)
UF_PASSWD_NOTREQD = 0x20


@dataclass
class LoadStats:
    added: int = 0
    existing: int = 0
    skipped: int = 0  # outside the directory's naming context
    failed: int = 0
    member_values: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few failures, for the report


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


@dataclass(frozen=True)
class DirectorySchema:
    """Attribute names the directory knows, and which of them hold DNs (set in a second pass)."""

    known: frozenset[str]  # lower-case lDAPDisplayNames
    references: frozenset[str]  # lower-case, DN syntax (2.5.5.1)

    @classmethod
    def read(cls, client: LdapClient) -> DirectorySchema:
        root = client.root_dse(["schemaNamingContext"])
        schema_nc = values_of(root, "schemaNamingContext")[0].decode()
        known: set[str] = set()
        references: set[str] = set()
        for page in client.paged_search(
            schema_nc, "(objectClass=attributeSchema)", ["lDAPDisplayName", "attributeSyntax"], 1000
        ):
            for entry in page:
                name = values_of(entry, "lDAPDisplayName")[0].decode().lower()
                known.add(name)
                if values_of(entry, "attributeSyntax") == [b"2.5.5.1"]:
                    references.add(name)
        return cls(frozenset(known), frozenset(references))


def _attributes(
    row: dict[str, Any], schema: DirectorySchema | None, deferred: bool = False
) -> dict[str, Any]:
    """The attributes to send on add (``deferred=False``) or in the second pass (``True``)."""
    attributes: dict[str, Any] = {}
    for name, value in row.items():
        lower = name.lower()
        if name in ("dn", "objectClass") or name.startswith("_") or value is None or lower in SYSTEM_ONLY:
            continue
        if schema is not None and lower not in schema.known:
            continue
        is_reference = lower in _LINKED or (schema is not None and lower in schema.references)
        if is_reference != deferred:
            continue
        if name == "userAccountControl" and isinstance(value, int):
            value |= UF_PASSWD_NOTREQD
        if isinstance(value, list):
            if value:
                attributes[name] = [_ldap_value(v) for v in value]
        else:
            attributes[name] = _ldap_value(value)
    return attributes


def _depth(dn: str) -> int:
    return dn.count(",") - dn.count("\\,")


def _under(dn: str, suffix: str | None) -> bool:
    if suffix is None:
        return True
    norm = normalize_dn(dn)
    return norm == suffix or norm.endswith("," + suffix)


def load_frames(
    client: LdapClient,
    frames: Iterable[pl.DataFrame],
    *,
    skip_existing: bool = True,
    strict: bool = True,
    naming_context: str | None = None,
    schema: DirectorySchema | None = None,
) -> LoadStats:
    """Add every object of ``frames`` to the directory ``client`` is bound to.

    ``skip_existing``: an object whose DN exists already is counted, not an error. ``strict``: the
    first failure raises; otherwise failures are counted (and the first ten kept in ``errors``).
    ``naming_context``: rows outside it (another domain of the forest) are skipped. ``schema``:
    attributes the directory does not know (Exchange attributes on a DC without the Exchange schema)
    are left out, and every DN-valued attribute is set in the second pass.
    """
    started = time.perf_counter()
    stats = LoadStats()
    suffix = normalize_dn(naming_context) if naming_context else None
    rows: list[dict[str, Any]] = []
    for frame in frames:
        for row in frame.to_dicts():
            if _under(row["dn"], suffix):
                rows.append(row)
            else:
                stats.skipped += 1
    containers = sorted(
        (r for r in rows if "organizationalUnit" in _classes(r["objectClass"])), key=lambda r: _depth(r["dn"])
    )
    others = [r for r in rows if "organizationalUnit" not in _classes(r["objectClass"])]
    loaded: list[dict[str, Any]] = []

    def fail(exc: LdapTerminalError) -> None:
        if strict:
            raise exc
        stats.failed += 1
        if len(stats.errors) < 10:
            stats.errors.append(str(exc))

    for row in [*containers, *others]:
        try:
            client.add(row["dn"], _classes(row["objectClass"]), _attributes(row, schema))
            stats.added += 1
            loaded.append(row)
        except ConstraintViolationError as exc:
            # entryAlreadyExists also answers a duplicate sAMAccountName: only an existing DN counts.
            if (
                skip_existing
                and exc.error_type == "entryAlreadyExists"
                and client.read(row["dn"], ["objectClass"])
            ):
                stats.existing += 1
                loaded.append(row)
            else:
                fail(exc)
        except LdapTerminalError as exc:
            fail(exc)
    for row in loaded:
        for attribute, values in _attributes(row, schema, deferred=True).items():
            if not isinstance(values, list):
                try:
                    client.modify(row["dn"], {attribute: [(ldap3.MODIFY_REPLACE, [values])]})
                except LdapTerminalError as exc:
                    fail(exc)
                continue
            for start in range(0, len(values), MEMBER_CHUNK):
                chunk = list(values[start : start + MEMBER_CHUNK])
                try:
                    client.modify(row["dn"], {attribute: [(ldap3.MODIFY_ADD, chunk)]})
                    stats.member_values += len(chunk)
                except (ConstraintViolationError, NoSuchObjectError) as exc:
                    if strict or len(chunk) == 1:
                        fail(exc)
                        continue
                    # One value the directory refuses (already there, or a member not loaded) must
                    # not lose the chunk: add what can be added one by one.
                    for value in chunk:
                        try:
                            client.modify(row["dn"], {attribute: [(ldap3.MODIFY_ADD, [value])]})
                            stats.member_values += 1
                        except (ConstraintViolationError, NoSuchObjectError) as one:
                            fail(one)
    stats.seconds = time.perf_counter() - started
    return stats


def connect_to(dc: SambaDC) -> LdapClient:
    """An LDAPS client (validation on) bound as the DC's Administrator."""
    endpoint = LdapEndpoint(
        host=dc.host,
        port=dc.ldaps_port,
        tls="ldaps",
        ca_file=str(dc.ca_file),
        tls_server_name=dc.tls_server_name,
        bind_dn=dc.bind_dn,
        receive_timeout=600,
    )
    return LdapClient(endpoint, dc.password())


def load_forest(forest: Any, dc: SambaDC | None = None) -> LoadStats:
    """Load a generated :class:`emulator.forest.Forest` into the Samba DC (started if none runs).

    Objects of the forest's other domains are skipped (the DC holds one domain); objects the DC has
    already (built-in accounts and groups) count as existing; other refusals are counted, not raised.
    """
    from emulator.samba_dc import ensure_samba_dc

    dc = dc or ensure_samba_dc()
    client = connect_to(dc)
    try:
        stats = load_frames(
            client,
            forest.frames().values(),
            strict=False,
            naming_context=dc.base_dn,
            schema=DirectorySchema.read(client),
        )
    finally:
        client.close()
    log.info(
        "loaded %d objects (%d existing, %d of other domains skipped, %d failed) in %.1fs",
        stats.added,
        stats.existing,
        stats.skipped,
        stats.failed,
        stats.seconds,
    )
    return stats
