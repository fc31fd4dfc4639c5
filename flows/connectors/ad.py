"""The Active Directory connector (ldap3 through :mod:`flows.connectors.ldap_client`).

``AdConnector(AdSettings(...))`` or ``AdConnector.from_config(AdConnectorConfig)``; it binds lazily,
on the first call that needs the directory.

Full import: paged subtree searches of the included containers of each partition (naming context),
decoded page by page into Polars frames, OU scope applied as one expression, value lists the server
cut short completed by range retrieval, one :class:`ImportBatch` per object type and partition
(``partial=False``). The watermark is taken *before* reading, so a change made during the import is
seen again by the next delta. An included OU that no longer exists reads as empty (its objects are
then obsoleted by the store, see :mod:`transforms.sync.obsoletion`).

Delta import: DirSync per partition (the cookie is the watermark, ``dirsync:<base64>``), or the
``uSNChanged`` high-water mark (``usn:<n>``) with Show Deleted where the bind account may not use DirSync
(``delta_method="auto"`` falls back by itself; ``"usn"`` forces it). A USN mark is valid only on the DC
that issued it (``host`` should name one DC then); a DirSync cookie carries its DC's identity. A missing, invalid or expired
watermark falls back to a full import (``ImportResult.full``), with a warning in the log.

What a delta returns, per object type and partition:

* ``ImportBatch.deleted``: anchors of tombstones (``isDeleted``) and of objects renamed or moved out
  of the OU scope (also the objects below an OU that moved out). An anchor the store never held is
  simply ignored there.
* ``partial=True`` batches (DirSync): one row per changed object with only what changed. The
  ``_changed`` column (List(String)) names the attributes the directory reported; an attribute listed
  there with a null value was cleared, one not listed is unchanged. Member changes arrive as
  ``member@add`` / ``member@remove`` (List(String) of DNs) to apply to the stored ``member`` list;
  ``member`` itself is null and not in ``_changed`` in those rows (it is there only when the whole
  value was sent). ``_dn`` is always current (renames included).
* A DN-valued reference (``member``, ``manager``) that points at an object renamed or moved in the
  same window is *not* reported: AD rewrites the reference without touching the referencing object.
  Likewise a member deleted in the window disappears from its groups without the groups being
  reported (seen with DirSync on Samba). The store keeps references consistent itself: DNs of
  renamed anchors rewritten, DNs of deleted anchors dropped.
* ``partial=False`` batches in a delta: whole objects that were moved (they may come from outside
  the scope) and every object below a renamed or moved OU (their DNs changed unreported); a USN delta
  returns only whole objects.

Export: modify (including the write of objectGUID into an empty ms-DS-ConsistencyGuid, as an LDAP add
so that a value set meanwhile is never overwritten), add and delete under the configured writeback OU;
one result row per object (EXPORT_RESULT_SCHEMA), errors marked transient or terminal.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import ldap3
import polars as pl

from flows.connectors.ad_decode import (
    INCREMENTAL_ADD,
    INCREMENTAL_REMOVE,
    OBJECT_TYPES,
    AttributeTypes,
    RawEntry,
    decode_entries,
    empty_frame,
    system_columns_first,
)
from flows.connectors.base import ImportBatch, ImportResult
from flows.connectors.ldap_client import (
    DirSyncCookieRejectedError,
    DirSyncNotPermittedError,
    LdapClient,
    LdapEndpoint,
    LdapTerminalError,
    LdapTransientError,
    NoSuchObjectError,
    PageResult,
    TlsMode,
    escape_filter_value,
    guid_dn,
    values_of,
)
from flows.errors import ConfigError
from flows.secrets import resolve_secret
from transforms.errors import InputError, TerminalError
from transforms.schema import ANCHOR, DN, EXPORT_RESULT_SCHEMA, OBJECT_TYPE
from transforms.sync.ou_scope import in_ou_scope, normalize_dn, search_bases

if TYPE_CHECKING:
    from flows.config import AdConnectorConfig

log = logging.getLogger(__name__)

CHANGED = "_changed"  # partial rows: the attributes the directory reported (a null there = cleared)
PARTITION = "_partition"

DEFAULT_ATTRIBUTES: tuple[str, ...] = (
    "cn",
    "name",
    "displayName",
    "description",
    "sAMAccountName",
    "userPrincipalName",
    "givenName",
    "sn",
    "mail",
    "mailNickname",
    "proxyAddresses",
    "department",
    "title",
    "company",
    "manager",
    "member",
    "userAccountControl",
    "groupType",
    "pwdLastSet",
    "objectSid",
    "mS-DS-ConsistencyGuid",
    "userCertificate",
    "isCriticalSystemObject",
    "targetAddress",
    "msExchRecipientTypeDetails",
    "operatingSystem",
    "operatingSystemVersion",
    "dNSHostName",
    "ou",
)
# Always read: the anchor, the type, and what DirSync needs to see renames, moves and deletes.
REQUIRED_ATTRIBUTES: tuple[str, ...] = ("objectGUID", "objectClass")
DELTA_ATTRIBUTES: tuple[str, ...] = ("name", "parentGUID", "isDeleted")
_GUID_LOOKUP_CHUNK = 100
NO_OBJECT_FILTER = "(objectGUID=" + "\\00" * 16 + ")"  # the nil GUID: no directory object has it

DeltaMethod = Literal["auto", "dirsync", "usn"]


class AdConfigError(ConfigError):
    """The AD connector settings cannot be used as given."""


@dataclass(frozen=True)
class AdPartition:
    """A naming context (domain) to import, with its container include/exclude lists."""

    dn: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdSettings:
    """What the AD connector needs; mirrors ``flows.config.AdConnectorConfig``."""

    name: str
    host: str
    bind_dn: str
    password: str  # a secret reference (env:NAME, file:PATH), never the password itself
    partitions: tuple[AdPartition, ...]
    port: int | None = None
    tls: TlsMode = "ldaps"
    ca_file: str | None = None
    tls_server_name: str | None = None
    allow_insecure: bool = False
    object_types: tuple[str, ...] = OBJECT_TYPES
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    page_size: int = 1000
    writeback_ou: str | None = None
    delta_method: DeltaMethod = "auto"
    discover_schema: bool = True

    @classmethod
    def from_config(cls, config: AdConnectorConfig) -> AdSettings:
        """Settings from the ``kind: ad`` entry of forestsync.yaml."""
        return cls(
            name=config.name,
            host=config.host,
            bind_dn=config.bind_dn,
            password=config.password,
            partitions=tuple(
                AdPartition(p.dn, tuple(p.include_ous), tuple(p.exclude_ous)) for p in config.partitions
            ),
            port=config.port,
            tls=config.tls,
            ca_file=str(config.ca_file) if config.ca_file else None,
            tls_server_name=config.tls_server_name,
            allow_insecure=config.allow_insecure,
            object_types=tuple(config.object_types) if config.object_types else OBJECT_TYPES,
            attributes=tuple(config.attributes) if config.attributes else DEFAULT_ATTRIBUTES,
            page_size=config.page_size,
            writeback_ou=config.writeback_ou,
            # "dirsync" keeps the USN fallback for a bind account DirSync is not permitted to.
            delta_method="usn" if config.delta == "usn" else "auto",
        )

    def endpoint(self) -> LdapEndpoint:
        return LdapEndpoint(
            host=self.host,
            port=self.port,
            tls=self.tls,
            ca_file=self.ca_file,
            tls_server_name=self.tls_server_name,
            allow_insecure=self.allow_insecure,
            bind_dn=self.bind_dn,
        )


def resolve_password(ref: str) -> str:
    """The bind password behind a secret reference (``env:NAME``, ``prefect-secret:NAME``)."""
    return resolve_secret(ref).reveal()


class DirectoryClient(Protocol):
    """What the connector uses of :class:`LdapClient`; tests replay recorded responses through it."""

    def connect(self) -> Any: ...

    def close(self) -> None: ...

    def root_dse(self, attributes: Sequence[str]) -> RawEntry: ...

    def read(self, dn: str, attributes: Sequence[str], show_deleted: bool = False) -> RawEntry | None: ...

    def paged_search(
        self, base: str, flt: str, attributes: Sequence[str], page_size: int, show_deleted: bool = False
    ) -> Iterator[list[RawEntry]]: ...

    def dir_sync(
        self, base: str, flt: str, attributes: Sequence[str], cookie: bytes, max_length: int = ...
    ) -> Iterator[PageResult]: ...

    def add(self, dn: str, object_class: Sequence[str], attributes: dict[str, Any]) -> None: ...

    def modify(self, dn: str, changes: dict[str, list[tuple[str, list[Any]]]]) -> None: ...

    def delete(self, dn: str, tree: bool = False) -> None: ...


ClientFactory = Callable[[LdapEndpoint, str], DirectoryClient]


def _object_filter(object_types: Iterable[str]) -> str:
    classes = set()
    for t in object_types:
        # inetOrgPerson and computer derive from user: one clause reads all three.
        classes.add("user" if t in ("inetOrgPerson", "computer") else t)
    clauses = "".join(f"(objectClass={escape_filter_value(c)})" for c in sorted(classes))
    return f"(|{clauses})" if len(classes) > 1 else clauses


_OBJECT_CLASSES: dict[str, list[str]] = {
    "user": ["top", "person", "organizationalPerson", "user"],
    "inetOrgPerson": ["top", "person", "organizationalPerson", "user", "inetOrgPerson"],
    "contact": ["top", "person", "organizationalPerson", "contact"],
    "group": ["top", "group"],
    "computer": ["top", "person", "organizationalPerson", "user", "computer"],
    "organizationalUnit": ["top", "organizationalUnit"],
    "msDS-Device": ["top", "msDS-Device"],
    "device": ["top", "msDS-Device"],  # device writeback's metaverse type
}


class AdConnector:
    """The Active Directory connector: ``AdConnector(settings)``; see the module docstring."""

    def __init__(self, settings: AdSettings, client_factory: ClientFactory | None = None) -> None:
        if not settings.partitions:
            raise AdConfigError(f"connector {settings.name}: no partition configured")
        if settings.page_size < 1:
            raise AdConfigError(f"connector {settings.name}: page_size must be positive")
        for partition in settings.partitions:
            head = normalize_dn(partition.dn)
            for container in (*partition.include, *partition.exclude):
                norm = normalize_dn(container)
                if norm != head and not norm.endswith("," + head):
                    raise AdConfigError(
                        f"connector {settings.name}: container {container!r} is not under partition "
                        f"{partition.dn} (a DN in a YAML flow list [a, b] must be quoted: its commas split it)"
                    )
        unknown = set(settings.object_types) - set(OBJECT_TYPES)
        if unknown:
            raise AdConfigError(f"connector {settings.name}: unknown object types {sorted(unknown)}")
        self.name = settings.name
        self.settings = settings
        self._factory: ClientFactory = client_factory or (lambda ep, pw: LdapClient(ep, pw))
        self._client: DirectoryClient | None = None
        self.types = AttributeTypes()
        self._schema_loaded = False
        # First spelling wins; LDAP attribute names are case-insensitive.
        unique: dict[str, str] = {}
        for attribute in (*REQUIRED_ATTRIBUTES, *settings.attributes):
            unique.setdefault(attribute.lower(), attribute)
        self.attributes = list(unique.values())
        self._filter = _object_filter(settings.object_types)

    @classmethod
    def from_config(cls, config: AdConnectorConfig) -> AdConnector:
        return cls(AdSettings.from_config(config))

    # connection --------------------------------------------------------------------------------------

    @property
    def client(self) -> DirectoryClient:
        if self._client is None:
            self._client = self._factory(self.settings.endpoint(), resolve_password(self.settings.password))
            self._client.connect()
            if self.settings.discover_schema:
                self._load_schema()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _load_schema(self) -> None:
        """Type the included attributes the built-in table does not know from the DC's schema."""
        assert self._client is not None
        unknown = [a for a in self.attributes if not self.types.known(a)]
        if not unknown or self._schema_loaded:
            return
        self._schema_loaded = True
        root = self._client.root_dse(["schemaNamingContext"])
        schema_nc = [v.decode() for v in values_of(root, "schemaNamingContext")]
        if not schema_nc:
            return
        clauses = "".join(f"(lDAPDisplayName={escape_filter_value(a)})" for a in unknown)
        for page in self._client.paged_search(
            schema_nc[0],
            f"(&(objectClass=attributeSchema)(|{clauses}))",
            ["lDAPDisplayName", "attributeSyntax", "isSingleValued"],
            self.settings.page_size,
        ):
            for entry in page:
                self.types.learn(
                    values_of(entry, "lDAPDisplayName")[0].decode(),
                    values_of(entry, "attributeSyntax")[0].decode(),
                    values_of(entry, "isSingleValued")[:1] == [b"TRUE"],
                )

    def object_types(self) -> list[str]:
        return list(self.settings.object_types)

    # full import -------------------------------------------------------------------------------------

    def full_import(self) -> ImportResult:
        batches: list[ImportBatch] = []
        watermarks: dict[str, str] = {}
        for partition in self.settings.partitions:
            watermarks[partition.dn] = self._current_watermark(partition)
            frame = self._read_scope(partition)
            batches.extend(self._batches(frame, partition, partial=False))
            log.info("%s: full import of %s read %d objects", self.name, partition.dn, frame.height)
        return ImportResult(batches=batches, full=True, watermarks=watermarks)

    def _read_scope(self, partition: AdPartition) -> pl.DataFrame:
        frames: list[pl.DataFrame] = []
        for base in search_bases(partition.dn, partition.include, partition.exclude):
            try:
                for page in self.client.paged_search(
                    base, self._filter, self.attributes, self.settings.page_size
                ):
                    frames.append(self._decode_complete(page))
            except NoSuchObjectError:
                if normalize_dn(base) == normalize_dn(partition.dn):
                    raise
                # A renamed or deleted included OU: nothing is in scope there any more, and the
                # store's obsoletion turns what it held into deletes (as Azure AD Connect does).
                log.warning(
                    "%s: included container %s does not exist (renamed or deleted?); nothing is read from it",
                    self.name,
                    base,
                )
        return self._scope(self._concat(frames), partition)

    def _decode_complete(self, page: list[RawEntry]) -> pl.DataFrame:
        decoded = decode_entries(page, self.attributes, self.types)
        frame = decoded.frame
        if not decoded.ranged:
            return frame
        # Windows AD returns at most MaxValRange (1,500) values per attribute and request: the rest
        # comes from `attr;range=N-*` reads on the same object until the server answers `N-*`.
        for attribute in {r.attribute for r in decoded.ranged}:
            values = frame[attribute].to_list()
            for ranged in (r for r in decoded.ranged if r.attribute == attribute):
                extra = self._read_range(ranged.dn, attribute, ranged.next_start)
                values[ranged.row] = list(values[ranged.row] or []) + extra.to_list()
            frame = frame.with_columns(pl.Series(attribute, values, dtype=frame.schema[attribute]))
        return frame

    def _read_range(self, dn: str, attribute: str, start: int) -> pl.Series:
        raw: list[bytes] = []
        while True:
            entry = self.client.read(dn, [f"{attribute};range={start}-*"])
            if entry is None:
                break
            key = next(
                (k for k in entry["raw_attributes"] if k.lower().startswith(attribute.lower() + ";range=")),
                None,
            )
            if key is None:
                break
            raw.extend(entry["raw_attributes"][key] or [])
            high = key.rsplit("-", 1)[1]
            if high == "*":
                break
            start = int(high) + 1
        decoded = decode_entries(
            [{"dn": dn, "raw_attributes": {attribute: raw}}], [attribute], self.types
        ).frame[attribute]
        return decoded[0] if len(decoded) and decoded[0] is not None else pl.Series([], dtype=pl.String())

    def _concat(self, frames: list[pl.DataFrame]) -> pl.DataFrame:
        frames = [f for f in frames if f.height]
        if not frames:
            return empty_frame(self.attributes, self.types)
        return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]

    def _scope(self, frame: pl.DataFrame, partition: AdPartition) -> pl.DataFrame:
        return frame.filter(
            in_ou_scope(pl.col(DN), partition.dn, partition.include, partition.exclude)
            & pl.col(OBJECT_TYPE).is_in(list(self.settings.object_types))
        )

    def _batches(self, frame: pl.DataFrame, partition: AdPartition, partial: bool) -> list[ImportBatch]:
        batches = []
        for object_type in self.settings.object_types:
            part = frame.filter(pl.col(OBJECT_TYPE) == object_type)
            if part.height == 0:
                continue
            batches.append(
                ImportBatch(
                    object_type=object_type,
                    frame=system_columns_first(part).sort(ANCHOR),
                    partition=partition.dn,
                    partial=partial,
                )
            )
        return batches

    # watermarks --------------------------------------------------------------------------------------

    def _current_watermark(self, partition: AdPartition) -> str:
        if self.settings.delta_method in ("auto", "dirsync"):
            try:
                cookie = b""
                # A filter nothing matches moves the cookie to "now" without transferring objects; an
                # equality on a whole objectGUID is answered from the index (ms instead of a scan).
                for page in self.client.dir_sync(partition.dn, NO_OBJECT_FILTER, ["objectGUID"], cookie):
                    cookie = page.cookie
                return "dirsync:" + base64.b64encode(cookie).decode()
            except DirSyncNotPermittedError as exc:
                if self.settings.delta_method == "dirsync":
                    raise
                log.warning(
                    "%s: DirSync not permitted on %s (%s); using uSNChanged", self.name, partition.dn, exc
                )
        return f"usn:{self._highest_usn()}"

    def _highest_usn(self) -> int:
        root = self.client.root_dse(["highestCommittedUSN"])
        return int(values_of(root, "highestCommittedUSN")[0])

    # delta import ------------------------------------------------------------------------------------

    def delta_import(self, watermarks: dict[str, str]) -> ImportResult:
        batches: list[ImportBatch] = []
        new_marks: dict[str, str] = {}
        for partition in self.settings.partitions:
            mark = watermarks.get(partition.dn, "")
            kind, _, value = mark.partition(":")
            try:
                if kind == "dirsync":
                    try:
                        cookie = base64.b64decode(value, validate=True)
                    except ValueError:
                        raise DirSyncCookieRejectedError("not Base64", "DirSyncCookieRejected") from None
                    part_batches, new_marks[partition.dn] = self._dirsync_delta(partition, cookie)
                elif kind == "usn" and value.isdigit():
                    part_batches, new_marks[partition.dn] = self._usn_delta(partition, int(value))
                else:
                    log.warning(
                        "%s: no usable watermark for %s (%r); running a full import instead of a delta",
                        self.name,
                        partition.dn,
                        kind or "none",
                    )
                    return self.full_import()
            except DirSyncCookieRejectedError as exc:
                log.warning(
                    "%s: the DirSync cookie for %s was rejected (%s); falling back to a full import",
                    self.name,
                    partition.dn,
                    exc,
                )
                return self.full_import()
            except DirSyncNotPermittedError as exc:
                if self.settings.delta_method == "dirsync":
                    raise
                # The right was taken away since the cookie was issued: a full import takes a USN mark.
                log.warning(
                    "%s: DirSync is no longer permitted on %s (%s); falling back to a full import",
                    self.name,
                    partition.dn,
                    exc,
                )
                return self.full_import()
            batches.extend(part_batches)
        return ImportResult(batches=batches, full=False, watermarks=new_marks)

    def _delta_attributes(self) -> list[str]:
        lower = {a.lower() for a in self.attributes}
        return self.attributes + [a for a in DELTA_ATTRIBUTES if a.lower() not in lower]

    def _dirsync_delta(self, partition: AdPartition, cookie: bytes) -> tuple[list[ImportBatch], str]:
        frames: list[pl.DataFrame] = []
        attrs = self._delta_attributes()
        for page in self.client.dir_sync(partition.dn, self._filter, attrs, cookie):
            cookie = page.cookie
            if page.entries:
                frames.append(self._decode_changed(page.entries, attrs))
        frame = self._concat_changed(frames, attrs)
        batches = self._delta_batches(frame, partition, partial=True)
        return batches, "dirsync:" + base64.b64encode(cookie).decode()

    def _usn_delta(self, partition: AdPartition, usn: int) -> tuple[list[ImportBatch], str]:
        high = self._highest_usn()
        attrs = self._delta_attributes()
        flt = f"(&(uSNChanged>={usn + 1}){self._filter})"
        frames = [
            self._decode_complete(page)
            for page in self.client.paged_search(
                partition.dn, flt, attrs, self.settings.page_size, show_deleted=True
            )
        ]
        frame = self._concat(frames) if frames else empty_frame(attrs, self.types)
        if "isDeleted" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Boolean()).alias("isDeleted"))
        batches = self._delta_batches(frame, partition, partial=False)
        return batches, f"usn:{high}"

    def _decode_changed(self, entries: list[RawEntry], attrs: list[str]) -> pl.DataFrame:
        frame = decode_entries(entries, attrs, self.types, incremental=True).frame
        by_lower = {a.lower(): self.types.canonical(a) for a in attrs}
        # Whole values only: `member;range=1-1` / `0-0` are increments (member@add / member@remove) of
        # the stored list, so member is "changed" (replaced) only when DirSync sent it without a range.
        changed = [
            sorted(
                by_lower[k.lower()]
                for k in e["raw_attributes"]
                if k.lower() in by_lower and k.lower() != "objectguid"
            )
            for e in entries
        ]
        return frame.with_columns(pl.Series(CHANGED, changed, dtype=pl.List(pl.String())))

    def _concat_changed(self, frames: list[pl.DataFrame], attrs: list[str]) -> pl.DataFrame:
        if not frames:
            return empty_frame(attrs, self.types).with_columns(
                pl.lit(None, pl.List(pl.String())).alias(CHANGED)
            )
        frame = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        # Incremental member columns are always there when member is read, so that batches of every
        # delta share one schema.
        if "member" in frame.columns:
            for column in ("member" + INCREMENTAL_ADD, "member" + INCREMENTAL_REMOVE):
                if column not in frame.columns:
                    frame = frame.with_columns(pl.lit(None, pl.List(pl.String())).alias(column))
        return frame

    def _delta_batches(self, frame: pl.DataFrame, partition: AdPartition, partial: bool) -> list[ImportBatch]:
        """Turn changed rows into batches: deletes (tombstones and moves out of scope), full rows for
        objects that arrived by a create, move or OU rename, partial rows for the rest."""
        if frame.height == 0:
            return []
        frame = self._resolve_object_types(frame, partition)
        deleted = pl.col("isDeleted").fill_null(False)
        scope = in_ou_scope(pl.col(DN), partition.dn, partition.include, partition.exclude)
        # Out of scope means gone only for an object that may have been in scope before: in a DirSync
        # delta that is one that was renamed or moved (name / parentGUID reported); an attribute change
        # elsewhere in the domain concerns an object this connector never held. A USN delta cannot tell.
        # DirSync sends objectClass only with a new object (it never changes afterwards): a new object
        # was never in scope before, so neither can it leave it nor does it need reading again.
        is_new = pl.col("objectClass").is_not_null() if "objectClass" in frame.columns else pl.lit(False)
        relocated = (
            (pl.col("parentGUID").is_not_null() | pl.col("name").is_not_null()) & ~is_new
            if partial
            else pl.lit(True)
        )
        frame = frame.with_columns(
            (deleted | (~scope & relocated)).alias("_gone"),
            (
                pl.col(OBJECT_TYPE).is_in(list(self.settings.object_types)) & (scope | deleted | relocated)
            ).alias("_wanted"),
        )
        gone = frame.filter(pl.col("_gone") & pl.col("_wanted"))
        live = frame.filter(~pl.col("_gone") & pl.col("_wanted"))
        full_rows: list[pl.DataFrame] = []
        if partial and live.height:
            # A moved object may come from outside the scope, where the store never held it: it needs
            # its whole image, which DirSync did not send.
            moved = live.filter(pl.col("parentGUID").is_not_null() & ~is_new)
            if moved.height:
                full_rows.append(self._read_by_guid(moved["objectGUID"].to_list(), partition))
                live = live.filter(pl.col("parentGUID").is_null() | is_new)
        # The objects under a renamed or moved OU changed DN without being reported (by DirSync or by
        # uSNChanged): read the subtree again. A USN delta cannot tell a rename from another change of
        # the OU, so there every changed OU is read again (OUs change rarely).
        relocated_ou = (pl.col(OBJECT_TYPE) == "organizationalUnit") & ~deleted & relocated
        for ou_dn in frame.filter(relocated_ou)[DN].to_list():
            pages = self.client.paged_search(ou_dn, self._filter, self.attributes, self.settings.page_size)
            full_rows.append(self._concat([self._decode_complete(page) for page in pages]))
        batches: list[ImportBatch] = []
        helper = ["_gone", "_wanted", "isDeleted", "parentGUID", "name"]
        keep_name = "name" in {a.lower() for a in self.attributes}
        drop = [c for c in helper if c in frame.columns and not (c == "name" and keep_name)]
        full = self._concat(full_rows) if full_rows else None
        if full is not None and full.height:
            in_scope = full.filter(scope)
            gone = pl.concat(
                [gone.select(ANCHOR, OBJECT_TYPE), full.filter(~scope).select(ANCHOR, OBJECT_TYPE)]
            )
            # Whole rows replace anything partial for the same object.
            live = live.join(full.select(ANCHOR), on=ANCHOR, how="anti")
            batches.extend(self._batches(in_scope, partition, partial=False))
        for object_type in self.settings.object_types:
            rows = live.filter(pl.col(OBJECT_TYPE) == object_type).drop(drop, strict=False)
            removed = gone.filter(pl.col(OBJECT_TYPE) == object_type)[ANCHOR].unique().sort()
            if rows.height == 0 and removed.len() == 0:
                continue
            batches.append(
                ImportBatch(
                    object_type=object_type,
                    frame=system_columns_first(rows).sort(ANCHOR),
                    deleted=removed,
                    partition=partition.dn,
                    partial=partial,
                )
            )
        return batches

    def _resolve_object_types(self, frame: pl.DataFrame, partition: AdPartition) -> pl.DataFrame:
        """DirSync leaves objectClass out of rows where it did not change: look those types up."""
        if OBJECT_TYPE not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String()).alias(OBJECT_TYPE))
        missing = frame.filter(pl.col(OBJECT_TYPE).is_null())
        if missing.height == 0:
            return frame
        guids = missing["objectGUID"].to_list()
        types: dict[bytes, str] = {}
        for start in range(0, len(guids), _GUID_LOOKUP_CHUNK):
            chunk = guids[start : start + _GUID_LOOKUP_CHUNK]
            clauses = "".join(f"(objectGUID={escape_filter_value(g)})" for g in chunk)
            for page in self.client.paged_search(
                partition.dn, f"(|{clauses})", ["objectGUID", "objectClass"], self.settings.page_size, True
            ):
                for entry in page:
                    types[values_of(entry, "objectGUID")[0]] = values_of(entry, "objectClass")[-1].decode()
        lookup = pl.DataFrame(
            {"objectGUID": list(types), "_resolved_type": list(types.values())},
            schema={"objectGUID": pl.Binary(), "_resolved_type": pl.String()},
        )
        return (
            frame.join(lookup, on="objectGUID", how="left")
            .with_columns(pl.coalesce(OBJECT_TYPE, "_resolved_type").alias(OBJECT_TYPE))
            .drop("_resolved_type")
        )

    def _read_by_guid(self, guids: list[bytes], partition: AdPartition) -> pl.DataFrame:
        frames = []
        for start in range(0, len(guids), _GUID_LOOKUP_CHUNK):
            chunk = guids[start : start + _GUID_LOOKUP_CHUNK]
            clauses = "".join(f"(objectGUID={escape_filter_value(g)})" for g in chunk)
            for page in self.client.paged_search(
                partition.dn, f"(&{self._filter}(|{clauses}))", self.attributes, self.settings.page_size
            ):
                frames.append(self._decode_complete(page))
        return self._concat(frames)

    # export ------------------------------------------------------------------------------------------

    def export(self, plan: pl.DataFrame) -> pl.DataFrame:
        """Apply pending exports (PENDING_EXPORT_SCHEMA) one object at a time; return one outcome per
        object (EXPORT_RESULT_SCHEMA). Errors are results, not exceptions, except a failed bind."""
        results: list[dict[str, Any]] = []
        if plan.height == 0:
            return pl.DataFrame(schema=EXPORT_RESULT_SCHEMA)
        client = self.client
        keys = ["_mv_id", ANCHOR, DN, "op", "object_type"]
        for key, rows in plan.group_by(keys, maintain_order=True):
            mv_id, anchor, dn, op, object_type = key
            outcome: dict[str, Any] = {
                "connector": self.name,
                "_mv_id": mv_id,
                ANCHOR: anchor,
                "op": op,
                "status": "success",
                "error_type": None,
                "transient": None,
                "message": None,
            }
            try:
                if op == "add":
                    outcome[ANCHOR] = self._export_add(client, str(dn), str(object_type), rows)
                elif op == "update":
                    self._export_update(client, anchor, dn, rows)
                elif op == "delete":
                    self._export_delete(client, anchor, dn)
                else:
                    raise InputError(f"unknown export operation {op!r}")
            except (LdapTerminalError, LdapTransientError) as exc:
                outcome.update(
                    status="error", error_type=exc.error_type, transient=exc.transient, message=str(exc)
                )
            except TerminalError as exc:
                outcome.update(
                    status="error", error_type=type(exc).__name__, transient=False, message=str(exc)
                )
            results.append(outcome)
        return pl.DataFrame(results, schema=EXPORT_RESULT_SCHEMA)

    def _check_writeback_scope(self, dn: str, op: str) -> None:
        ou = self.settings.writeback_ou
        if not ou:
            raise OutsideWritebackScopeError(f"{op} of {dn}: no writeback OU is configured")
        norm_dn, norm_ou = normalize_dn(dn), normalize_dn(ou)
        if not norm_dn.endswith("," + norm_ou):
            raise OutsideWritebackScopeError(f"{op} of {dn}: outside the writeback OU {ou}")

    def _export_add(
        self, client: DirectoryClient, dn: str, object_type: str, rows: pl.DataFrame
    ) -> str | None:
        self._check_writeback_scope(dn, "add")
        attributes = {
            attr: _ldap_values(value)
            for attr, value in zip(rows["attribute"].to_list(), rows["new_value"].to_list(), strict=True)
            if attr is not None and value is not None and value != "null"
        }
        object_class = attributes.pop("objectClass", None) or _OBJECT_CLASSES.get(
            object_type, ["top", object_type]
        )
        client.add(dn, [v.decode() if isinstance(v, bytes) else str(v) for v in object_class], attributes)
        entry = client.read(dn, ["objectGUID"])
        if entry is None:
            return None
        return base64.b64encode(values_of(entry, "objectGUID")[0]).decode()

    def _export_update(
        self, client: DirectoryClient, anchor: str | None, dn: str | None, rows: pl.DataFrame
    ) -> None:
        changes: dict[str, list[tuple[str, list[Any]]]] = {}
        for attr, old, new in zip(
            rows["attribute"].to_list(), rows["old_value"].to_list(), rows["new_value"].to_list(), strict=True
        ):
            if attr is None:
                continue
            values = _ldap_values(new) if new not in (None, "null") else []
            if attr.lower() == "ms-ds-consistencyguid" and old in (None, "null") and values:
                # Only into an empty ConsistencyGuid: an add fails if a value appeared meanwhile.
                changes[attr] = [(ldap3.MODIFY_ADD, values)]
            else:
                changes[attr] = [(ldap3.MODIFY_REPLACE, values)]
        if changes:
            client.modify(_target(anchor, dn), changes)

    def _export_delete(self, client: DirectoryClient, anchor: str | None, dn: str | None) -> None:
        if dn is None:
            raise InputError(f"delete of {anchor}: the plan carries no DN to check the writeback scope")
        self._check_writeback_scope(dn, "delete")
        client.delete(_target(anchor, dn))


class OutsideWritebackScopeError(TerminalError):
    """Adds and deletes are allowed only under the configured writeback OU."""


def _target(anchor: str | None, dn: str | None) -> str:
    if anchor:
        return guid_dn(base64.b64decode(anchor))
    if dn:
        return dn
    raise InputError("an export row has neither an anchor nor a DN")


def _ldap_values(value_json: str) -> list[Any]:
    """JSON value of a pending export -> ldap3 values (``{"base64": ...}`` is binary)."""
    try:
        value = json.loads(value_json)
    except json.JSONDecodeError as exc:
        raise InputError(f"pending export value is not JSON: {exc}") from None
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, dict) and "base64" in item:
            out.append(base64.b64decode(item["base64"]))
        elif isinstance(item, bool):
            out.append("TRUE" if item else "FALSE")
        else:
            out.append(str(item))
    return out
