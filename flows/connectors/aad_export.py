"""Export to Entra ID: pending exports -> ``$batch`` requests, with matching, retries and idempotency.

How a plan is read (PENDING_EXPORT_SCHEMA rows):

* rows are grouped per target object by ``_mv_id`` (or ``_anchor`` where ``_mv_id`` is null); the
  object's ``op`` (add / update / delete) and ``object_type`` come from its first row; a delete row is
  an object of its own (keyed by its anchor), and deletes are sent before creates and updates, so a
  metaverse object deprovisioned and provisioned again deletes the old target and creates a new one;
* each row's ``attribute`` is a Graph property name (or a registered ``extension_<appId>_<name>``);
  ``new_value`` / ``old_value`` are JSON; an update row whose new value equals its old value is dropped,
  and an update with nothing left sends nothing (no no-op writes);
* ``members`` rows (groups) carry JSON arrays of member references, old and new: each reference is a
  target object id, or ``{"_mv_id": "..."}`` for an object created in the same export (objects are
  created first, references written after); a placeholder whose object was not created (its own error
  is reported) is left out, not failed: the sync sends it again once the object exists; the connector
  sends the difference: adds in ``members@odata.bind`` chunks of 20, removes one ``$ref`` each;
* a user create gets a generated strong password (``passwordProfile``) that is never stored or logged;
* ``extension_<name>`` (not already ``extension_<32 hex>_<name>``) is the directory extension
  ``extension_<appId>_<name>`` of the schema app (``extension_app_id``; ``extension_names`` overrides);
  every extension the plan uses is registered on the app before the first write (once per run);
  without a schema app such objects fail with ``ExtensionAppNotConfigured``;
* ``onPremisesExtensionAttributes.extensionAttributeN`` rows fold into the nested
  ``onPremisesExtensionAttributes`` object (an update sends only the changed keys, null clears one);
* ``manager`` (users) is a reference like a member: ``PUT .../manager/$ref``, null removes it;
* ``alternativeSecurityIds`` (devices) carries DER certificates (``{"base64": ...}`` or base64 text):
  each becomes a Graph ``alternativeSecurityId`` (type 2, key ``X509:<SHA1-TP-PUBKEY>`` + thumbprint +
  SHA-256 of the public key, UTF-16LE, base64) as Entra's device registration writes it;
* objects Graph v1.0 cannot create fail with a named error and no request: contacts
  (``UnsupportedObjectType``), mail-enabled groups and groups that are neither security nor Microsoft
  365 groups (``UnsupportedGroupType``), devices under an application credential
  (``UnsupportedObjectType``: Graph creates devices for delegated callers only; existing devices are
  updated and deleted normally).

Requests travel 20 per ``$batch``, paced to the tenant's write budget. A create whose response was
lost is never blindly repeated: the object is first looked up by its anchor (``onPremisesImmutableId``
for users), which also gives hard matching; a conflict on UPN / SMTP address leads to soft matching
(unless blocked), never onto an object that has another immutable id.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import string
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import polars as pl

from flows.connectors.aad_import import COLLECTION
from flows.connectors.aad_settings import (
    EXTENSION_DEFS,
    ON_PREM_EXTENSION_ATTRIBUTES,
    ON_PREM_EXTENSION_KEYS,
    AadSettings,
    ExtensionDef,
    extension_short_name,
)
from flows.connectors.graph_client import (
    MAX_BATCH,
    GraphClient,
    GraphError,
    GraphOutcomeUnknownError,
    GraphResponse,
    GraphThrottledError,
    error_type_for,
    parse_error_body,
    retry_after_s,
)
from transforms.errors import InputError
from transforms.schema import EXPORT_RESULT_SCHEMA

log = logging.getLogger("forestsync.aad.export")

MEMBER_CHUNK = 20
SOFT_MATCH_TARGETS = ("userPrincipalName", "proxyAddresses", "mail")
WRITABLE_TYPES = ("user", "group", "device")


_PASSWORD_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#$%&*+-=?@^_~")
_PASSWORD_ALPHABET = "".join(_PASSWORD_CLASSES)
_PASSWORD_CUTOFF = 256 - 256 % len(_PASSWORD_ALPHABET)  # reject bytes above it: no modulo bias


def generate_password(length: int = 24) -> str:
    """A strong random password meeting Entra's complexity rules (all four character classes).

    Drawn from one ``secrets.token_bytes`` call: ``secrets.choice`` per character reads the OS
    random source once per character, which dominated the cost of a create.
    """
    while True:
        chars = [
            _PASSWORD_ALPHABET[b % len(_PASSWORD_ALPHABET)]
            for b in secrets.token_bytes(2 * length)
            if b < _PASSWORD_CUTOFF
        ][:length]
        if len(chars) == length and all(any(c in cls for c in chars) for cls in _PASSWORD_CLASSES):
            return "".join(chars)


_X509_PREFIX = "X509:<SHA1-TP-PUBKEY>"
APP_ONLY_CREDENTIALS = frozenset({"client_secret", "certificate", "managed_identity"})
DEVICE_CREATE_MESSAGE = (
    "Microsoft Graph v1.0 creates devices only for a signed-in user (delegated Directory.AccessAsUser.All "
    "with the Intune or Windows 365 Administrator role), never for an application: hybrid-joined devices "
    "register themselves and join on deviceId"
)


def alternative_security_ids(value: Any) -> list[dict[str, Any]]:
    """Graph ``alternativeSecurityId`` objects for device certificates (``{"base64": DER}`` or base64 DER).

    The key is what Entra's device registration stores for a certificate-identified device:
    ``X509:<SHA1-TP-PUBKEY>`` + the certificate's SHA-1 thumbprint (hex) + the base64 SHA-256 of its
    public key, as UTF-16LE, base64-encoded. Values already in Graph's shape pass unchanged.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    items = value if isinstance(value, list) else [value]
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict) and "key" in item and "type" in item:
            out.append(dict(item))
            continue
        text = item.get("base64") if isinstance(item, dict) else item
        if not isinstance(text, str):
            raise ValueError(f"expected a base64 DER certificate, not {type(item).__name__}")
        try:
            der = base64.b64decode(text, validate=True)
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise ValueError(f"not a DER X.509 certificate ({exc})") from None
        thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        digest = hashes.Hash(hashes.SHA256())
        digest.update(spki)
        key_hash = base64.b64encode(digest.finalize()).decode()
        key = base64.b64encode((_X509_PREFIX + thumbprint + key_hash).encode("utf-16-le")).decode()
        out.append({"type": 2, "identityProvider": None, "key": key})
    return out


def unsupported_group(body: dict[str, Any], *, creating: bool) -> str | None:
    """Why Graph v1.0 cannot create (or turn a group into) this kind of group, or None."""
    unified = "Unified" in (body.get("groupTypes") or [])
    if unified:
        return None
    if body.get("mailEnabled") is True:
        return (
            "Microsoft Graph v1.0 can only create security groups and Microsoft 365 groups: "
            "distribution groups and mail-enabled security groups cannot be created or changed through it"
        )
    if creating and body.get("securityEnabled") is not True:
        return (
            "Microsoft Graph v1.0 can only create security groups and Microsoft 365 groups: "
            "a group that is neither security-enabled nor a Microsoft 365 group cannot be created"
        )
    return None


def _odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class TargetObject:
    key: str
    mv_id: str | None
    anchor: str | None
    object_type: str
    op: str
    attrs: dict[str, Any]
    members_new: list[Any] | None = None
    members_old: list[Any] | None = None
    manager: Any = None  # the new manager reference when ``manager_set``
    manager_set: bool = False
    extensions: dict[str, str] = field(default_factory=dict)  # short name -> full name used
    error: tuple[str, str, bool] | None = None  # error_type, message, transient
    done: bool = False

    def fail(self, error_type: str, message: str, *, transient: bool = False) -> None:
        if self.error is None:
            self.error = (error_type, message, transient)


@dataclass
class Op:
    obj: TargetObject
    kind: str  # create | patch | delete | lookup | bind | add_ref | remove_ref
    method: str
    url: str  # relative to the Graph root
    body: Any = None
    attempts: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def writes(self) -> int:
        return 0 if self.method == "GET" else 1


@dataclass
class ExportStats:
    objects: int = 0
    writes_sent: int = 0
    lookups: int = 0
    hard_matches: int = 0
    soft_matches: int = 0
    extensions_registered: int = 0


def _is_placeholder(ref: Any) -> bool:
    return isinstance(ref, dict) and isinstance(ref.get("_mv_id"), str)


class ExportRun:
    """One application of an export plan."""

    def __init__(self, graph: GraphClient, settings: AadSettings) -> None:
        self.graph = graph
        self.settings = settings
        self.stats = ExportStats()
        self.anchor_by_mv: dict[str, str] = {}
        self.registered_extensions: list[str] = []  # full names this run registered on the schema app

    # ---- plan -> objects -------------------------------------------------------------------------

    @staticmethod
    def objects_from_plan(plan: pl.DataFrame) -> list[TargetObject]:
        """One TargetObject per target object, in plan order; JSON values decoded in one parse per column."""

        def decode(column: str) -> list[Any]:
            raw = plan[column].fill_null("null").to_list()
            return list(json.loads("[" + ",".join(raw) + "]")) if raw else []

        orphans = plan.filter(pl.col("_mv_id").is_null() & pl.col("_anchor").is_null()).height
        if orphans:
            raise InputError(f"{orphans} pending export row(s) have neither _mv_id nor _anchor")
        old_values, new_values = decode("old_value"), decode("new_value")
        by_key: dict[str, TargetObject] = {}
        for mv_id, anchor, object_type, op, attribute, old, new in zip(
            plan["_mv_id"].to_list(),
            plan["_anchor"].to_list(),
            plan["object_type"].to_list(),
            plan["op"].to_list(),
            plan["attribute"].to_list(),
            old_values,
            new_values,
            strict=True,
        ):
            # A delete is its own object, keyed by its anchor: a metaverse object deprovisioned and
            # provisioned again (same _mv_id) deletes the old target object and creates a new one.
            key = f"delete|{anchor}" if op == "delete" else str(mv_id if mv_id is not None else anchor)
            obj = by_key.get(key)
            if obj is None:
                obj = by_key[key] = TargetObject(key, mv_id, anchor, object_type, op, {})
            elif obj.anchor is None and anchor is not None:
                obj.anchor = anchor
            if attribute is None:
                continue
            if attribute == "members":
                obj.members_old, obj.members_new = old or [], new or []
            elif obj.op == "add" or old != new:
                obj.attrs[attribute] = new
        return list(by_key.values())

    # ---- run -------------------------------------------------------------------------------------

    async def run(self, plan: pl.DataFrame, connector: str) -> pl.DataFrame:
        objects = self.objects_from_plan(plan)
        self.stats.objects = len(objects)
        for obj in objects:
            self._prepare(obj)
        await self._ensure_extensions(objects)
        first: list[Op] = []
        for obj in objects:
            if obj.error is None:
                first.extend(self._initial_ops(obj))
        # Deletes go first: a new object may take over an anchor value (onPremisesImmutableId, UPN) that
        # the object it replaces still holds.
        await self._drain([op for op in first if op.kind == "delete"])
        await self._drain([op for op in first if op.kind != "delete"])
        second: list[Op] = []
        for obj in objects:
            second.extend(self._member_ops(obj))
            second.extend(self._manager_ops(obj))
        await self._drain(second)
        return self._results(objects, connector)

    # ---- plan attributes -> Graph properties ------------------------------------------------------

    def _prepare(self, obj: TargetObject) -> None:
        """Turn the rule destinations of one object into Graph properties, or fail it with a named error."""
        if obj.object_type not in COLLECTION:
            obj.fail("UnsupportedObjectType", f"object type {obj.object_type!r} is not an Entra object type")
            return
        if obj.object_type not in WRITABLE_TYPES:
            obj.fail(
                "UnsupportedObjectType",
                f"{COLLECTION[obj.object_type]} are read-only in Microsoft Graph v1.0: "
                "it cannot create or change them",
            )
            return
        if obj.op == "delete":
            return
        creating = obj.op == "add" and obj.anchor is None
        if obj.object_type == "device" and creating and self.settings.credential_kind in APP_ONLY_CREDENTIALS:
            obj.fail("UnsupportedObjectType", DEVICE_CREATE_MESSAGE)  # whatever its values: no request
            return
        out: dict[str, Any] = {}
        nested: dict[str, Any] = {}
        missing: list[str] = []
        for name, value in obj.attrs.items():
            short = extension_short_name(name)
            if short is not None:
                full = self.settings.extension_full_name(short)
                if full is None:
                    missing.append(name)
                    continue
                obj.extensions[short] = full
                out[full] = value
            elif name.startswith(ON_PREM_EXTENSION_ATTRIBUTES + "."):
                key = name[len(ON_PREM_EXTENSION_ATTRIBUTES) + 1 :]
                if obj.object_type != "user" or key not in ON_PREM_EXTENSION_KEYS:
                    obj.fail("AttributeNotWritable", f"{name} is not a property of Graph {obj.object_type}s")
                    return
                nested[key] = value
            elif name == "manager":
                if obj.object_type != "user":
                    obj.fail(
                        "AttributeNotWritable", f"manager is not a reference of Graph {obj.object_type}s"
                    )
                    return
                obj.manager, obj.manager_set = value, True
            elif name == "alternativeSecurityIds" and obj.object_type == "device":
                try:
                    out[name] = None if value is None else alternative_security_ids(value)
                except ValueError as exc:
                    obj.fail("InvalidAttributeValue", f"alternativeSecurityIds: {exc}")
                    return
            else:
                out[name] = value
        if missing:
            obj.fail(
                "ExtensionAppNotConfigured",
                f"{', '.join(sorted(missing))} need the tenant schema app: set extension_app_id of the "
                "Entra connector (the appId whose directory extensions carry them)",
            )
            return
        if nested:
            if creating:
                nested = {k: v for k, v in nested.items() if v is not None}
            if nested or not creating:
                out[ON_PREM_EXTENSION_ATTRIBUTES] = nested
        if obj.object_type == "group":
            reason = unsupported_group(out, creating=creating)
            if reason is not None:
                obj.fail("UnsupportedGroupType", reason)
                return
        obj.attrs = out

    async def _ensure_extensions(self, objects: list[TargetObject]) -> None:
        """Register every extension the plan uses on the schema app (once per run) before any write."""
        wanted: dict[str, str] = {}
        for obj in objects:
            if obj.error is None:
                wanted.update(obj.extensions)
        # Overridden names belong to an app the configuration names: they are expected to exist.
        wanted = {s: f for s, f in wanted.items() if s not in self.settings.extension_names}
        if not wanted:
            return
        failed: dict[str, tuple[str, str]] = {}
        try:
            app_object_id = await self._schema_app_object_id()
            if app_object_id is None:
                failed = {
                    s: (
                        "ExtensionAppNotFound",
                        f"no application with appId {self.settings.extension_app_id} in the tenant",
                    )
                    for s in wanted
                }
            else:
                failed = await self._register_missing(app_object_id, wanted)
        except GraphError as exc:
            failed = {s: ("ExtensionPropertyNotRegistered", str(exc)) for s in wanted}
        if not failed:
            return
        for obj in objects:
            bad = sorted(s for s in obj.extensions if s in failed)
            if bad and obj.error is None:
                error_type, why = failed[bad[0]]
                obj.fail(error_type, f"extension_{', extension_'.join(bad)} could not be registered: {why}")

    async def _schema_app_object_id(self) -> str | None:
        app_id = self.settings.extension_app_id or ""
        flt = quote(f"appId eq {_odata_literal(app_id)}", safe="")
        found = await self.graph.request("GET", f"applications?$filter={flt}&$select=id,appId")
        apps = found.get("value", []) if isinstance(found, dict) else []
        return str(apps[0]["id"]) if apps else None

    async def _register_missing(
        self, app_object_id: str, wanted: dict[str, str]
    ) -> dict[str, tuple[str, str]]:
        path = f"applications/{app_object_id}/extensionProperties"
        existing = await self.graph.request("GET", path)
        names = {str(e.get("name")) for e in (existing or {}).get("value", [])}
        failed: dict[str, tuple[str, str]] = {}
        for short, full in sorted(wanted.items()):
            if full in names:
                continue
            definition = EXTENSION_DEFS.get(short, ExtensionDef())
            body = {
                "name": short,
                "dataType": definition.data_type,
                "targetObjects": list(definition.targets),
                "isMultiValued": definition.multi_valued,
            }
            try:
                created = await self.graph.request("POST", path, body=body)
            except GraphError as exc:
                # A POST retried after a lost response may find its own property: look again.
                again = await self.graph.request("GET", path)
                if full not in {str(e.get("name")) for e in (again or {}).get("value", [])}:
                    failed[short] = ("ExtensionPropertyNotRegistered", str(exc))
                continue
            if str(created.get("name")) != full:
                failed[short] = (
                    "ExtensionPropertyNotRegistered",
                    f"the schema app registered {created.get('name')!r}, not {full!r}",
                )
                continue
            self.registered_extensions.append(full)
            self.stats.extensions_registered += 1
            log.info("registered directory extension %s on the schema app", full)
        return failed

    def _initial_ops(self, obj: TargetObject) -> list[Op]:
        if obj.object_type not in COLLECTION:
            obj.fail("UnsupportedObjectType", f"object type {obj.object_type!r} is not an Entra object type")
            return []
        coll = COLLECTION[obj.object_type]
        if obj.object_type not in WRITABLE_TYPES:
            obj.fail("UnsupportedObjectType", f"{coll} are read-only in Microsoft Graph v1.0")
            return []
        if obj.op == "delete":
            if obj.anchor is None:
                obj.fail("ObjectNotFound", "a delete needs the target anchor")
                return []
            return [Op(obj, "delete", "DELETE", f"/{coll}/{obj.anchor}")]
        if obj.op == "add" and obj.anchor is None:
            body = {k: v for k, v in obj.attrs.items() if v is not None}  # a create has nothing to clear
            if obj.object_type == "user":
                body["passwordProfile"] = {
                    "password": generate_password(),
                    "forceChangePasswordNextSignIn": False,
                }
            return [Op(obj, "create", "POST", f"/{coll}", body)]
        if obj.anchor is None:
            obj.fail("ObjectNotFound", "an update needs the target anchor")
            return []
        if obj.attrs:
            return [Op(obj, "patch", "PATCH", f"/{coll}/{obj.anchor}", dict(obj.attrs))]
        return []

    def _resolve(self, ref: Any) -> str | None:
        """A reference value: an object id, ``{"_anchor": id}``, or ``{"_mv_id": ...}`` for an object
        created in this export (None when it was not)."""
        if isinstance(ref, str):
            return ref
        if isinstance(ref, dict):
            if isinstance(ref.get("_mv_id"), str):
                return self.anchor_by_mv.get(ref["_mv_id"])
            if isinstance(ref.get("_anchor"), str):
                return str(ref["_anchor"])
        return None

    def _manager_ops(self, obj: TargetObject) -> list[Op]:
        if not obj.manager_set or obj.error is not None or obj.anchor is None:
            return []
        if obj.manager is None:
            if obj.op == "add":
                return []  # a new user has no manager to clear
            return [Op(obj, "remove_manager", "DELETE", f"/users/{obj.anchor}/manager/$ref")]
        manager = self._resolve(obj.manager)
        if manager is None:
            if _is_placeholder(obj.manager):
                # Its object was not created in this export (its own error is reported): the sync sends
                # the reference again once the object has an id.
                log.info("manager of %s left out: %s was not created", obj.key, obj.manager["_mv_id"])
                return []
            obj.fail("UnresolvedReference", "the manager reference names an object that has no anchor yet")
            return []
        body = {"@odata.id": f"{self.graph.base_url}/directoryObjects/{manager}"}
        return [Op(obj, "set_manager", "PUT", f"/users/{obj.anchor}/manager/$ref", body)]

    def _member_ops(self, obj: TargetObject) -> list[Op]:
        if obj.members_new is None or obj.error is not None or obj.anchor is None:
            return []
        # A placeholder whose object was not created in this export is left out (that object's own error
        # is reported; the sync sends the reference again once the object has an id).
        pending = [r for r in obj.members_new if _is_placeholder(r) and self._resolve(r) is None]
        if pending:
            log.info("%s: %d member(s) left out, not created in this export", obj.key, len(pending))
        new = [
            self._resolve(r) for r in obj.members_new if not (_is_placeholder(r) and self._resolve(r) is None)
        ]
        old = [self._resolve(r) for r in obj.members_old or []]
        unresolved = sum(1 for r in new if r is None)
        if unresolved:
            obj.fail(
                "UnresolvedReference",
                f"{unresolved} member reference(s) name objects that have no anchor yet",
            )
        new_set = {r for r in new if r is not None}
        old_set = {r for r in old if r is not None}
        adds = [r for r in dict.fromkeys(new) if r is not None and r not in old_set]
        removes = [r for r in dict.fromkeys(old) if r is not None and r not in new_set]
        ops: list[Op] = []
        base = self.graph.base_url
        for i in range(0, len(adds), MEMBER_CHUNK):
            chunk = adds[i : i + MEMBER_CHUNK]
            body = {"members@odata.bind": [f"{base}/directoryObjects/{m}" for m in chunk]}
            ops.append(Op(obj, "bind", "PATCH", f"/groups/{obj.anchor}", body, info={"members": chunk}))
        for member in removes:
            ops.append(Op(obj, "remove_ref", "DELETE", f"/groups/{obj.anchor}/members/{member}/$ref"))
        return ops

    # ---- engine ----------------------------------------------------------------------------------

    async def _drain(self, ops: list[Op]) -> None:
        queue: deque[Op] = deque(ops)
        running: set[asyncio.Task[list[Op]]] = set()
        limit = max(1, self.settings.max_concurrency)
        while queue or running:
            while queue and len(running) < limit:
                chunk = [queue.popleft() for _ in range(min(MAX_BATCH, len(queue)))]
                writes = sum(op.writes for op in chunk)
                if writes:
                    await self.graph.budget.acquire(writes)
                self.stats.writes_sent += writes
                running.add(asyncio.create_task(self._run_batch(chunk)))
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                queue.extend(task.result())

    async def _run_batch(self, chunk: list[Op]) -> list[Op]:
        requests: list[dict[str, Any]] = []
        for i, op in enumerate(chunk):
            request: dict[str, Any] = {"id": str(i), "method": op.method, "url": op.url}
            if op.body is not None:
                request["body"] = op.body
                request["headers"] = {"Content-Type": "application/json"}
            requests.append(request)
        try:
            responses = await self.graph.batch(requests)
        except GraphThrottledError as exc:
            return [f for op in chunk for f in self._retry(op, str(exc), exc.retry_after_s)]
        except GraphOutcomeUnknownError as exc:
            log.info("$batch outcome unknown (%s); recovering %d requests", exc, len(chunk))
            return [f for op in chunk for f in self._unknown(op, str(exc))]
        except GraphError as exc:
            for op in chunk:
                op.obj.fail(exc.error_type, str(exc), transient=exc.transient)
            return []
        follow: list[Op] = []
        for i, op in enumerate(chunk):
            resp = responses.get(str(i))
            if resp is None:
                follow.extend(self._unknown(op, "the $batch response has no entry for this request"))
            else:
                follow.extend(self._handle(op, resp))
        return follow

    def _retry(self, op: Op, why: str, wait_s: float | None = None) -> list[Op]:
        op.attempts += 1
        if op.attempts >= self.settings.max_attempts:
            op.obj.fail("TransientFailure", f"gave up after {op.attempts} attempts: {why}", transient=True)
            return []
        if wait_s is not None:
            self.graph.budget.pause(wait_s)
        return [op]

    def _unknown(self, op: Op, why: str) -> list[Op]:
        """The request may have been applied. Creates are verified by anchor before being repeated."""
        if op.kind == "create":
            lookup = self._anchor_lookup(op, purpose="verify")
            if lookup is not None:
                op.attempts += 1
                if op.attempts >= self.settings.max_attempts:
                    op.obj.fail(
                        "TransientFailure", f"gave up after {op.attempts} attempts: {why}", transient=True
                    )
                    return []
                return [lookup]
        return self._retry(op, why)

    def _handle(self, op: Op, resp: GraphResponse) -> list[Op]:
        obj = op.obj
        if resp.status == 429:
            return self._retry(op, "throttled", retry_after_s(resp.headers, op.attempts))
        if resp.status >= 500:
            return self._unknown(op, f"status {resp.status}")
        if resp.status < 300:
            return self._success(op, resp)
        code, message, target = parse_error_body(resp.body)
        lowered = message.lower()
        if op.kind == "delete" and resp.status == 404:
            return []  # already gone
        if op.kind in ("remove_ref", "remove_manager") and resp.status == 404:
            return []  # not a member any more / no manager any more
        if op.kind == "add_ref" and "already exist" in lowered:
            return []
        if op.kind == "bind" and "already exist" in lowered:
            # Some of the chunk is already there (a retried request): add one by one, tolerating that.
            return [
                Op(
                    obj,
                    "add_ref",
                    "POST",
                    f"/groups/{obj.anchor}/members/$ref",
                    {"@odata.id": f"{self.graph.base_url}/directoryObjects/{m}"},
                )
                for m in op.info["members"]
            ]
        if op.kind == "create" and target is not None and "same value" in lowered:
            anchor_attr = self.settings.anchor_attribute(obj.object_type)
            if target == anchor_attr:
                lookup = self._anchor_lookup(op, purpose="hard")
                if lookup is not None:
                    return [lookup]
            if obj.object_type == "user" and target in SOFT_MATCH_TARGETS:
                return self._soft_lookup(op, target)
        if op.kind == "create" and obj.object_type == "device" and resp.status == 403:
            message = f"{message} ({DEVICE_CREATE_MESSAGE})"
        obj.fail(error_type_for(resp.status, code, message, target), f"{op.method} {op.url}: {message}")
        return []

    def _success(self, op: Op, resp: GraphResponse) -> list[Op]:
        obj = op.obj
        if op.kind == "create":
            obj.anchor = str(resp.body["id"])
            self._anchored(obj)
            return []
        if op.kind == "lookup":
            return self._decide(op, resp.body.get("value", []) if isinstance(resp.body, dict) else [])
        return []

    def _anchored(self, obj: TargetObject) -> None:
        if obj.mv_id is not None and obj.anchor is not None:
            self.anchor_by_mv[obj.mv_id] = obj.anchor

    # ---- matching --------------------------------------------------------------------------------

    def _lookup_op(self, create: Op, collection: str, query_filter: str, purpose: str, **info: Any) -> Op:
        fields = ["id", "onPremisesSyncEnabled", *[k for k in create.body if k != "passwordProfile"]]
        if create.obj.object_type == "user" and "onPremisesImmutableId" not in fields:
            fields.append("onPremisesImmutableId")
        url = f"/{collection}?$filter={quote(query_filter, safe='')}&$select={quote(','.join(dict.fromkeys(fields)), safe=',')}"
        self.stats.lookups += 1
        return Op(create.obj, "lookup", "GET", url, info={"create": create, "purpose": purpose, **info})

    def _anchor_lookup(self, create: Op, *, purpose: str) -> Op | None:
        anchor_attr = self.settings.anchor_attribute(create.obj.object_type)
        value = create.body.get(anchor_attr) if anchor_attr else None
        if not isinstance(value, str) or not value:
            return None
        coll = COLLECTION[create.obj.object_type]
        return self._lookup_op(create, coll, f"{anchor_attr} eq {_odata_literal(value)}", purpose)

    def _soft_lookup(self, create: Op, target: str) -> list[Op]:
        body = create.body
        if target == "userPrincipalName":
            upn = body.get("userPrincipalName")
            if not isinstance(upn, str):
                return []
            flt = f"userPrincipalName eq {_odata_literal(upn)}"
            return [self._lookup_op(create, "users", flt, "soft", target=target, remaining=[])]
        mail = body.get("mail")
        if not isinstance(mail, str):
            create.obj.fail("AttributeValueMustBeUnique", f"{target} conflicts with another object")
            return []
        flt = f"mail eq {_odata_literal(mail)} or proxyAddresses/any(p:p eq {_odata_literal('smtp:' + mail)})"
        return [
            self._lookup_op(
                create, "users", flt, "soft", target=target, flt=flt, remaining=["groups", "contacts"]
            )
        ]

    def _decide(self, lookup: Op, found: list[dict[str, Any]]) -> list[Op]:
        create: Op = lookup.info["create"]
        obj = create.obj
        purpose = lookup.info["purpose"]
        if purpose == "verify":
            if not found:
                return [create]  # the lost create did not happen: send it again
            return self._take_over(create, found[0], hard=True)
        if purpose == "hard":
            if not found:
                obj.fail(
                    "AttributeValueMustBeUnique", "the anchor is held by an object the tenant does not show"
                )
                return []
            return self._take_over(create, found[0], hard=True)
        # soft match
        target = lookup.info["target"]
        if not found:
            remaining: list[str] = lookup.info["remaining"]
            if remaining:
                nxt = self._lookup_op(
                    create,
                    remaining[0],
                    lookup.info["flt"],
                    "soft",
                    target=target,
                    flt=lookup.info["flt"],
                    remaining=remaining[1:],
                )
                nxt.info["other_type"] = True
                return [nxt]
            obj.fail("AttributeValueMustBeUnique", f"another object holds the same {target}")
            return []
        if lookup.info.get("other_type"):
            obj.fail(
                "ObjectTypeMismatch",
                f"the {target} conflict is with an object of another type ({lookup.url.split('?')[0]})",
            )
            return []
        existing = found[0]
        anchor_attr = self.settings.anchor_attribute(obj.object_type) or "onPremisesImmutableId"
        if existing.get(anchor_attr) and existing.get(anchor_attr) != create.body.get(anchor_attr):
            obj.fail("InvalidSoftMatch", f"the object holding this {target} has another immutable id")
            return []
        if self.settings.block_soft_match:
            obj.fail(
                "AttributeValueMustBeUnique", f"another object holds the same {target}; soft match is blocked"
            )
            return []
        if target == "userPrincipalName" and not self.settings.soft_match_on_upn:
            obj.fail(
                "AttributeValueMustBeUnique",
                "another object holds the same userPrincipalName; soft match on UPN is off",
            )
            return []
        return self._take_over(create, existing, hard=False)

    def _take_over(self, create: Op, existing: dict[str, Any], *, hard: bool) -> list[Op]:
        obj = create.obj
        if (
            hard
            and self.settings.block_cloud_object_takeover_through_hard_match
            and existing.get("onPremisesSyncEnabled") is not True
        ):
            obj.fail("InvalidHardMatch", "hard match onto a cloud-managed object is blocked")
            return []
        if hard:
            self.stats.hard_matches += 1
        else:
            self.stats.soft_matches += 1
        obj.anchor = str(existing["id"])
        self._anchored(obj)
        diff = {k: v for k, v in create.body.items() if k != "passwordProfile" and existing.get(k) != v}
        if not diff:
            return []
        return [Op(obj, "patch", "PATCH", f"/{COLLECTION[obj.object_type]}/{obj.anchor}", diff)]

    # ---- results ---------------------------------------------------------------------------------

    @staticmethod
    def _results(objects: list[TargetObject], connector: str) -> pl.DataFrame:
        rows = {name: [] for name in EXPORT_RESULT_SCHEMA}  # type: dict[str, list[Any]]
        for obj in objects:
            rows["connector"].append(connector)
            rows["_mv_id"].append(obj.mv_id)
            rows["_anchor"].append(obj.anchor)
            rows["op"].append(obj.op)
            rows["status"].append("error" if obj.error else "success")
            rows["error_type"].append(obj.error[0] if obj.error else None)
            rows["transient"].append(obj.error[2] if obj.error else None)
            rows["message"].append(obj.error[1] if obj.error else None)
        return pl.DataFrame(rows, schema=EXPORT_RESULT_SCHEMA)
