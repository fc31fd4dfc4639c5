"""Directory state of the emulated tenant: objects, uniqueness, duplicate attribute resiliency, delta log.

One :class:`Directory` holds every object in memory. The server calls it from a single event loop, so
its methods need no lock of their own beyond the one that guards persistence snapshots.

Two write paths exist, as in the service:

* cloud writes (an object without ``onPremisesImmutableId``): every uniqueness conflict is refused with
  Graph's 400 ``ObjectConflict``, a UPN in an unverified domain is refused.
* synchronized writes (the object carries ``onPremisesImmutableId``; the emulator treats the writer as
  the sync client and marks the object ``onPremisesSyncEnabled``): duplicate attribute resiliency
  applies against other synchronized objects (a conflicting UPN becomes
  ``<prefix><4 digits>@<initial domain>``, a conflicting proxy address is dropped, each conflict is
  recorded in ``onPremisesProvisioningErrors``), a UPN in an unverified domain gets the initial domain.
  A conflict with a cloud object is still refused, so that the client can soft-match it.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulator.graph.errors import GraphError, bad_request, conflict, not_found, read_only
from emulator.graph.schema import (
    EXTENSION_TARGET,
    MAILNICKNAME_FORBIDDEN,
    ODATA_TYPE,
    ON_PREM_EXTENSION_KEYS,
    PROPS_BY_KIND,
    REQUIRED_ON_CREATE,
    RESOURCE_NAME,
    SOFT_DELETED_KINDS,
    UPN_PREFIX_ALLOWED,
)

MAX_BIND_MEMBERS = 20


_clock: list[Any] = [0, ""]


def now_iso() -> str:
    """UTC now as Graph writes it (whole seconds), formatted once per second."""
    second = int(time.time())
    if _clock[0] != second:
        _clock[0], _clock[1] = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(_clock[1])


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "strs": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "obj": lambda v: isinstance(v, dict),
    "objs": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}


def _too_long(value: Any, max_len: int | None) -> bool:
    if max_len is None:
        return False
    if isinstance(value, str):
        return len(value) > max_len
    return isinstance(value, list) and any(isinstance(v, str) and len(v) > max_len for v in value)


@dataclass
class DirObject:
    id: str
    kind: str
    props: dict[str, Any]
    members: dict[str, None] | None = None  # ordered set of member ids (groups)
    deleted_at: str | None = None
    seq: int = 0

    def view(self) -> dict[str, Any]:
        return {"id": self.id, **self.props}

    @property
    def synced(self) -> bool:
        return bool(self.props.get("onPremisesImmutableId"))


@dataclass(frozen=True)
class ExtensionProperty:
    id: str
    name: str  # extension_<appId without dashes>_<name>
    data_type: str
    target_objects: tuple[str, ...]
    is_multi_valued: bool
    app_object_id: str

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "dataType": self.data_type,
            "targetObjects": list(self.target_objects),
            "isMultiValued": self.is_multi_valued,
            "isSyncedFromOnPremises": False,
            "appDisplayName": "forestsync",
            "deletedDateTime": None,
        }


@dataclass(frozen=True)
class Application:
    id: str  # object id
    app_id: str  # client id
    display_name: str

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "appId": self.app_id, "displayName": self.display_name}


@dataclass
class ChangeLog:
    """Per kind: an append-only log of (seq, object id); the latest seq of an object marks its entry."""

    entries: list[tuple[int, str]] = field(default_factory=list)
    latest: dict[str, int] = field(default_factory=dict)

    def touch(self, seq: int, object_id: str) -> None:
        self.entries.append((seq, object_id))
        self.latest[object_id] = seq

    def changed_between(self, since: int, upto: int, after: int) -> Iterator[tuple[int, str]]:
        """Objects whose latest change lies in (max(since, after), upto], in change order."""
        start = bisect.bisect_right(self.entries, (max(since, after), "\uffff"))
        for seq, object_id in self.entries[start:]:
            if seq > upto:
                break
            if self.latest.get(object_id) == seq:
                yield seq, object_id


def _password_ok(password: str) -> bool:
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    return 8 <= len(password) <= 256 and classes >= 3


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return bool(text)


def _smtp_addresses(props: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    mail = props.get("mail")
    if isinstance(mail, str) and mail:
        out.add(mail.lower())
    for proxy in props.get("proxyAddresses") or []:
        if isinstance(proxy, str) and proxy.lower().startswith("smtp:"):
            out.add(proxy[5:].lower())
    return out


def _other_proxies(props: dict[str, Any]) -> set[str]:
    return {
        p.lower()
        for p in props.get("proxyAddresses") or []
        if isinstance(p, str) and not p.lower().startswith("smtp:")
    }


class Directory:
    """The tenant's directory: objects of every kind, their uniqueness indexes and the change log."""

    def __init__(
        self,
        *,
        tenant_id: str,
        initial_domain: str,
        verified_domains: Iterable[str] = (),
        seed: int | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.initial_domain = initial_domain.lower()
        self.verified_domains = {self.initial_domain, *(d.lower() for d in verified_domains)}
        self.objects: dict[str, DirObject] = {}
        self.deleted: dict[str, DirObject] = {}
        self.applications: dict[str, Application] = {}
        self.extensions: dict[str, ExtensionProperty] = {}
        self.seq = 0
        self.logs: dict[str, ChangeLog] = {kind: ChangeLog() for kind in PROPS_BY_KIND}
        self.member_events: dict[str, list[tuple[int, str, bool]]] = {}
        self.member_of: dict[str, set[str]] = {}
        self.managers: dict[str, str] = {}  # user id -> manager id (the manager navigation property)
        # user id -> (seq, manager id or None): every change of a user's manager, for users/delta
        self.manager_events: dict[str, list[tuple[int, str | None]]] = {}
        self.noop_updates = 0
        self._unique: dict[str, dict[str, str]] = {
            "userPrincipalName": {},
            "smtp": {},
            "proxy": {},
            "onPremisesImmutableId": {},
            "onPremisesSecurityIdentifier": {},
            "deviceId": {},
        }
        self._by_kind: dict[str, dict[str, DirObject]] = {kind: {} for kind in PROPS_BY_KIND}
        self._rng = random.Random(seed)
        self.lock = threading.RLock()  # guards snapshots taken from another thread

    # ---- reading ---------------------------------------------------------------------------------

    def of_kind(self, kind: str) -> Iterable[DirObject]:
        return self._by_kind[kind].values()

    def count(self, kind: str) -> int:
        return len(self._by_kind[kind])

    def get(self, object_id: str, kind: str | None = None) -> DirObject:
        obj = self.objects.get(object_id)
        if obj is None or (kind is not None and obj.kind != kind):
            raise not_found(object_id)
        return obj

    def render(self, obj: DirObject, select: list[str] | None, *, with_type: bool = False) -> dict[str, Any]:
        if select is None:
            out = obj.view()
        else:
            out = {"id": obj.id}
            for name in select:
                if name != "id":
                    out[name] = obj.props.get(name)
        if with_type:
            out = {"@odata.type": ODATA_TYPE[obj.kind], **out}
        return out

    # ---- uniqueness ------------------------------------------------------------------------------

    def _keys(self, props: dict[str, Any]) -> dict[str, set[str]]:
        keys: dict[str, set[str]] = {
            "smtp": _smtp_addresses(props),
            "proxy": _other_proxies(props),
        }
        upn = props.get("userPrincipalName")
        keys["userPrincipalName"] = {upn.lower()} if isinstance(upn, str) else set()
        imm = props.get("onPremisesImmutableId")
        keys["onPremisesImmutableId"] = {imm} if isinstance(imm, str) and imm else set()
        sid = props.get("onPremisesSecurityIdentifier")
        keys["onPremisesSecurityIdentifier"] = {sid.upper()} if isinstance(sid, str) and sid else set()
        dev = props.get("deviceId")
        keys["deviceId"] = {dev.lower()} if isinstance(dev, str) and dev else set()
        return keys

    def _index(self, obj: DirObject) -> None:
        for name, values in self._keys(obj.props).items():
            for value in values:
                self._unique[name][value] = obj.id

    def _unindex(self, obj: DirObject) -> None:
        for name, values in self._keys(obj.props).items():
            for value in values:
                if self._unique[name].get(value) == obj.id:
                    del self._unique[name][value]

    def _owner(self, name: str, value: str, self_id: str) -> DirObject | None:
        owner_id = self._unique[name].get(value)
        if owner_id is None or owner_id == self_id:
            return None
        return self.objects.get(owner_id)

    def _resolve_conflicts(self, obj_id: str, props: dict[str, Any], *, synced: bool) -> list[dict[str, Any]]:
        """Refuse or quarantine the values of ``props`` that other objects hold; return the conflicts kept."""
        errors: list[dict[str, Any]] = []
        keys = self._keys(props)
        for value in keys["onPremisesImmutableId"]:
            if self._owner("onPremisesImmutableId", value, obj_id):
                raise conflict("onPremisesImmutableId")
        for value in keys["onPremisesSecurityIdentifier"]:
            if self._owner("onPremisesSecurityIdentifier", value, obj_id):
                raise conflict("onPremisesSecurityIdentifier")
        for value in keys["deviceId"]:
            if self._owner("deviceId", value, obj_id):
                raise conflict("deviceId")
        for value in keys["userPrincipalName"]:
            owner = self._owner("userPrincipalName", value, obj_id)
            if owner is None:
                continue
            if not (synced and owner.synced):
                raise conflict("userPrincipalName")
            original = props["userPrincipalName"]
            props["userPrincipalName"] = self._placeholder_upn(original)
            errors.append(self._provisioning_error("UserPrincipalName", original))
        mail = props.get("mail")
        if isinstance(mail, str) and mail and self._owner("smtp", mail.lower(), obj_id):
            # mail is outside duplicate attribute resiliency; Graph names the proxyAddresses conflict.
            raise conflict("proxyAddresses")
        kept: list[str] = []
        for proxy in props.get("proxyAddresses") or []:
            lower = proxy.lower()
            key, value = ("smtp", lower[5:]) if lower.startswith("smtp:") else ("proxy", lower)
            owner = self._owner(key, value, obj_id)
            if owner is None:
                kept.append(proxy)
                continue
            if not (synced and owner.synced):
                raise conflict("proxyAddresses")
            errors.append(self._provisioning_error("ProxyAddresses", proxy))
        if "proxyAddresses" in props:
            props["proxyAddresses"] = kept
        return errors

    def _placeholder_upn(self, upn: str) -> str:
        prefix = upn.split("@", 1)[0]
        for _ in range(10000):
            candidate = f"{prefix}{self._rng.randint(1000, 9999)}@{self.initial_domain}"
            if candidate.lower() not in self._unique["userPrincipalName"]:
                return candidate
        raise GraphError(500, "Service_InternalServerError", "No placeholder UPN available.")

    @staticmethod
    def _provisioning_error(prop: str, value: str) -> dict[str, Any]:
        return {
            "category": "PropertyConflict",
            "occurredDateTime": now_iso(),
            "propertyCausingError": prop,
            "value": value,
        }

    # ---- validation ------------------------------------------------------------------------------

    def _validate(self, kind: str, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        table = PROPS_BY_KIND[kind]
        resource = RESOURCE_NAME[kind]
        clean: dict[str, Any] = {}
        for name, value in body.items():
            if name.startswith("@odata.") or name.endswith("@odata.bind"):
                continue
            if name.startswith("extension_"):
                clean[name] = self._validate_extension(kind, name, value)
                continue
            prop = table.get(name)
            if prop is None or name == "id":
                if name == "id":
                    raise read_only(name)
                raise bad_request(
                    f"Property '{name}' does not exist as a declared property or extension property."
                )
            if not prop.writable:
                raise read_only(name)
            if value is None:
                if creating or name in REQUIRED_ON_CREATE.get(kind, ()):
                    raise bad_request(
                        f"Invalid value specified for property '{name}' of resource '{resource}'.",
                        target=name,
                    )
                clean[name] = None
                continue
            if not _TYPE_CHECKS[prop.type](value) or _too_long(value, prop.max_len):
                raise bad_request(
                    f"Invalid value specified for property '{name}' of resource '{resource}'.", target=name
                )
            self._check_complex(kind, name, value)
            clean[name] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
        if creating:
            for name in REQUIRED_ON_CREATE.get(kind, ()):
                if clean.get(name) is None:
                    raise bad_request(f"Property '{name}' is required when creating the object.", target=name)
        nick = clean.get("mailNickname")
        if isinstance(nick, str) and (nick == "" or any(c in MAILNICKNAME_FORBIDDEN for c in nick)):
            raise bad_request(
                f"Invalid value specified for property 'mailNickname' of resource '{resource}'."
            )
        profile = clean.get("passwordProfile")
        if kind == "user" and profile is not None:
            password = profile.get("password")
            if creating and not isinstance(password, str):
                raise bad_request("Property 'passwordProfile.password' is required when creating the object.")
            if isinstance(password, str) and not _password_ok(password):
                raise bad_request(
                    "The specified password does not comply with password complexity requirements."
                )
        return clean

    @staticmethod
    def _check_complex(kind: str, name: str, value: Any) -> None:
        """The shapes of the complex properties forestsync writes, as Graph v1.0 declares them."""
        resource = RESOURCE_NAME[kind]
        invalid = f"Invalid value specified for property '{name}' of resource '{resource}'."
        if name == "onPremisesExtensionAttributes":
            for key, item in value.items():
                if key not in ON_PREM_EXTENSION_KEYS:
                    raise bad_request(
                        f"Property '{key}' does not exist as a declared property or extension property.",
                        target=name,
                    )
                if item is not None and (not isinstance(item, str) or len(item) > 1024):
                    raise bad_request(invalid, target=name)
        elif name == "businessPhones" and len(value) > 1:
            # The collection holds at most one number for users (Graph v1.0 reference).
            raise bad_request(invalid, target=name)
        elif name == "alternativeSecurityIds":
            for item in value:
                extra = set(item) - {"type", "key", "identityProvider"}
                kind_ok = isinstance(item.get("type"), int) and not isinstance(item.get("type"), bool)
                key = item.get("key")
                if extra or not kind_ok or not isinstance(key, str) or not _is_base64(key):
                    raise bad_request(invalid, target=name)

    def _validate_extension(self, kind: str, name: str, value: Any) -> Any:
        ext = self.extensions.get(name)
        if ext is None or EXTENSION_TARGET[kind] not in ext.target_objects:
            raise bad_request(
                f"Property '{name}' does not exist as a declared property or extension property."
            )
        if value is None:
            return None
        values = value if ext.is_multi_valued else [value]
        if ext.is_multi_valued and not isinstance(value, list):
            raise bad_request(
                f"Invalid value specified for property '{name}' of resource '{RESOURCE_NAME[kind]}'."
            )
        checks = {
            "String": lambda v: isinstance(v, str) and len(v) <= 256,
            "Boolean": lambda v: isinstance(v, bool),
            "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
            "LargeInteger": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "DateTime": lambda v: isinstance(v, str),
            "Binary": lambda v: isinstance(v, str) and len(v) <= 256,
        }
        if not all(checks[ext.data_type](v) for v in values):
            raise bad_request(
                f"Invalid value specified for property '{name}' of resource '{RESOURCE_NAME[kind]}'."
            )
        return copy.deepcopy(value)

    def _check_upn(self, props: dict[str, Any], *, synced: bool) -> None:
        upn = props.get("userPrincipalName")
        if not isinstance(upn, str):
            return
        prefix, _, domain = upn.rpartition("@")
        if (
            not prefix
            or not domain
            or len(prefix) > 64
            or prefix.startswith(".")
            or prefix.endswith(".")
            or ".." in prefix
            or any(c not in UPN_PREFIX_ALLOWED for c in prefix)
        ):
            raise bad_request(
                "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
                target="userPrincipalName",
            )
        if domain.lower() not in self.verified_domains:
            if not synced:
                raise bad_request(
                    "The domain portion of the userPrincipalName property is invalid. "
                    "You must use one of the verified domain names in your organization.",
                    target="userPrincipalName",
                )
            props["userPrincipalName"] = f"{prefix}@{self.initial_domain}"

    # ---- writing ---------------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _touch(self, obj: DirObject) -> int:
        obj.seq = self._next_seq()
        self.logs[obj.kind].touch(obj.seq, obj.id)
        return obj.seq

    def create(self, kind: str, body: dict[str, Any]) -> DirObject:
        if kind == "orgContact":
            raise GraphError(
                405,
                "Request_BadRequest",
                "Organizational contacts are read-only in Microsoft Graph; they are created by directory synchronization.",
            )
        props = self._validate(kind, body, creating=True)
        binds = self._member_binds(body)
        if kind == "group":
            self._check_group_kind(props)
        object_id = str(uuid.uuid4())
        return self._insert(kind, object_id, props, binds)

    def _insert(self, kind: str, object_id: str, props: dict[str, Any], binds: list[str]) -> DirObject:
        synced = bool(props.get("onPremisesImmutableId"))
        if kind == "user":
            self._check_upn(props, synced=synced)
        if kind == "group" and "Unified" in (props.get("groupTypes") or []) and not props.get("mail"):
            props["mail"] = f"{props['mailNickname']}@{self.initial_domain}"
            props["proxyAddresses"] = [f"SMTP:{props['mail']}"]
        errors = self._resolve_conflicts(object_id, props, synced=synced)
        for member_id in binds:
            self.get(member_id)
        if synced:
            props.setdefault("onPremisesSyncEnabled", True)
            props["onPremisesLastSyncDateTime"] = now_iso()
        if errors:
            props["onPremisesProvisioningErrors"] = errors
        props.setdefault("createdDateTime", now_iso())
        props.pop("passwordProfile", None)  # write-only: Graph never returns the password
        obj = DirObject(object_id, kind, props, members={} if kind == "group" else None)
        self.objects[object_id] = obj
        self._by_kind[kind][object_id] = obj
        self._index(obj)
        seq = self._touch(obj)
        for member_id in binds:
            self._link(obj, member_id, seq)
        return obj

    def seed(self, kind: str, props: dict[str, Any], object_id: str | None = None) -> DirObject:
        """Insert an object as directory synchronization would, read-only properties included (demo, tests)."""
        object_id = object_id or str(uuid.uuid4())
        return self._insert(kind, object_id, copy.deepcopy(props), [])

    def update(self, object_id: str, kind: str, body: dict[str, Any]) -> DirObject:
        obj = self.get(object_id, kind)
        if kind == "orgContact":
            raise GraphError(
                405, "Request_BadRequest", "Organizational contacts are read-only in Microsoft Graph."
            )
        changes = self._validate(kind, body, creating=False)
        binds = self._member_binds(body)
        if binds and kind != "group":
            raise bad_request("Property 'members@odata.bind' is only supported on groups.")
        new_props = {**obj.props, **changes}
        nested = changes.get("onPremisesExtensionAttributes")
        if isinstance(nested, dict):
            # Graph merges a complex value's keys on PATCH: the keys sent change, null clears one.
            merged = {**(obj.props.get("onPremisesExtensionAttributes") or {}), **nested}
            new_props["onPremisesExtensionAttributes"] = {k: v for k, v in merged.items() if v is not None}
            changes["onPremisesExtensionAttributes"] = new_props["onPremisesExtensionAttributes"]
        for name in [k for k, v in changes.items() if v is None]:
            new_props.pop(name, None)
        new_props.pop("passwordProfile", None)
        if kind == "group" and {"mailEnabled", "securityEnabled", "groupTypes"} & set(changes):
            self._check_group_kind(new_props)  # a security group cannot become a distribution group
        synced = bool(new_props.get("onPremisesImmutableId"))
        if kind == "user" and "userPrincipalName" in changes:
            self._check_upn(new_props, synced=synced)
        errors = self._resolve_conflicts(object_id, new_props, synced=synced)
        for member_id in binds:
            self.get(member_id)
            if obj.members is not None and member_id in obj.members:
                raise bad_request(
                    "One or more added object references already exist for the following modified properties: 'members'."
                )
        if not binds and all(obj.props.get(k) == v for k, v in changes.items() if k != "passwordProfile"):
            self.noop_updates += 1  # a write that changes nothing: counted so clients can be held to zero
        if synced and "onPremisesImmutableId" in changes:
            new_props["onPremisesSyncEnabled"] = True  # the sync client takes the object over
        if synced:
            new_props["onPremisesLastSyncDateTime"] = now_iso()
        if errors:
            new_props["onPremisesProvisioningErrors"] = [
                *(obj.props.get("onPremisesProvisioningErrors") or []),
                *errors,
            ]
        self._unindex(obj)
        obj.props = new_props
        self._index(obj)
        seq = self._touch(obj)
        for member_id in binds:
            self._link(obj, member_id, seq)
        return obj

    def _check_group_kind(self, props: dict[str, Any]) -> None:
        unified = "Unified" in (props.get("groupTypes") or [])
        security = props.get("securityEnabled") is True and props.get("mailEnabled") is False and not unified
        microsoft365 = unified and props.get("mailEnabled") is True
        if not (security or microsoft365):
            raise bad_request(
                "Only security groups and Microsoft 365 groups can be created through Microsoft Graph; "
                "mail-enabled security groups and distribution groups cannot."
            )

    @staticmethod
    def _member_binds(body: dict[str, Any]) -> list[str]:
        binds = body.get("members@odata.bind")
        if binds is None:
            return []
        if not isinstance(binds, list) or not all(isinstance(b, str) for b in binds):
            raise bad_request("Invalid value for 'members@odata.bind'.")
        if len(binds) > MAX_BIND_MEMBERS:
            raise bad_request(
                f"The request contains {len(binds)} member references; at most {MAX_BIND_MEMBERS} can be added in one request."
            )
        return [ref_id(b) for b in binds]

    def delete(self, object_id: str, kind: str) -> None:
        obj = self.get(object_id, kind)
        if kind == "orgContact":
            raise GraphError(
                405, "Request_BadRequest", "Organizational contacts are read-only in Microsoft Graph."
            )
        self._detach(obj)
        soft = kind in SOFT_DELETED_KINDS and (
            kind == "user" or "Unified" in (obj.props.get("groupTypes") or [])
        )
        if soft:
            obj.deleted_at = now_iso()
            self.deleted[object_id] = obj
        self.logs[kind].touch(self._next_seq(), object_id)

    def _detach(self, obj: DirObject) -> None:
        for group_id in list(self.member_of.pop(obj.id, ())):
            group = self.objects.get(group_id)
            if group is not None:
                self._unlink(group, obj.id, self._touch(group))
        for member_id in obj.members or {}:
            self.member_of.get(member_id, set()).discard(obj.id)
        self.managers.pop(obj.id, None)
        self.manager_events.pop(obj.id, None)
        for report_id in [u for u, m in self.managers.items() if m == obj.id]:
            # The reports lose their manager: a change of theirs that users/delta reports (manager@delta).
            del self.managers[report_id]
            report = self.objects.get(report_id)
            if report is not None:
                self._manager_event(report_id, None, self._touch(report))
        self._unindex(obj)
        del self.objects[obj.id]
        del self._by_kind[obj.kind][obj.id]

    def restore(self, object_id: str) -> DirObject:
        obj = self.deleted.get(object_id)
        if obj is None:
            raise not_found(object_id)
        self._resolve_conflicts(object_id, obj.props, synced=False)
        del self.deleted[object_id]
        obj.deleted_at = None
        self.objects[object_id] = obj
        self._by_kind[obj.kind][object_id] = obj
        self._index(obj)
        self._touch(obj)
        return obj

    def purge(self, object_id: str) -> None:
        if self.deleted.pop(object_id, None) is None:
            raise not_found(object_id)

    def reapply_quarantined(self) -> int:
        """The service's periodic pass: give back quarantined UPNs and proxy addresses whose conflict cleared.

        Returns how many values were restored. An object whose value is still held elsewhere keeps its
        conflict record.
        """
        restored = 0
        for obj in list(self.objects.values()):
            errors = obj.props.get("onPremisesProvisioningErrors") or []
            if not errors:
                continue
            kept: list[dict[str, Any]] = []
            changes: dict[str, Any] = {}
            proxies = list(obj.props.get("proxyAddresses") or [])
            for error in errors:
                value = error.get("value")
                prop = error.get("propertyCausingError")
                if (
                    prop == "UserPrincipalName"
                    and isinstance(value, str)
                    and self._owner("userPrincipalName", value.lower(), obj.id) is None
                ):
                    changes["userPrincipalName"] = value
                elif prop == "ProxyAddresses" and isinstance(value, str):
                    lower = value.lower()
                    key, v = ("smtp", lower[5:]) if lower.startswith("smtp:") else ("proxy", lower)
                    if self._owner(key, v, obj.id) is None:
                        proxies.append(value)
                        changes["proxyAddresses"] = proxies
                    else:
                        kept.append(error)
                else:
                    kept.append(error)
            if not changes:
                continue
            self._unindex(obj)
            obj.props.update(changes)
            if kept:
                obj.props["onPremisesProvisioningErrors"] = kept
            else:
                obj.props.pop("onPremisesProvisioningErrors", None)
            self._index(obj)
            self._touch(obj)
            restored += len(errors) - len(kept)
        return restored

    # ---- members ---------------------------------------------------------------------------------

    def add_member(self, group_id: str, member_id: str) -> None:
        group = self.get(group_id, "group")
        self.get(member_id)
        assert group.members is not None
        if member_id in group.members:
            raise bad_request(
                "One or more added object references already exist for the following modified properties: 'members'."
            )
        self._link(group, member_id, self._touch(group))

    def remove_member(self, group_id: str, member_id: str) -> None:
        group = self.get(group_id, "group")
        assert group.members is not None
        if member_id not in group.members:
            raise not_found(member_id)
        self._unlink(group, member_id, self._touch(group))

    def _link(self, group: DirObject, member_id: str, seq: int) -> None:
        assert group.members is not None
        group.members[member_id] = None
        self.member_of.setdefault(member_id, set()).add(group.id)
        self.member_events.setdefault(group.id, []).append((seq, member_id, True))

    def _unlink(self, group: DirObject, member_id: str, seq: int) -> None:
        assert group.members is not None
        group.members.pop(member_id, None)
        self.member_of.get(member_id, set()).discard(group.id)
        self.member_events.setdefault(group.id, []).append((seq, member_id, False))

    def member_changes(self, group_id: str, since: int) -> list[tuple[str, bool]]:
        """Net member changes after ``since`` (member id, added), in first-change order."""
        net: dict[str, bool] = {}
        for seq, member_id, added in self.member_events.get(group_id, []):
            if seq > since:
                net[member_id] = added
        return list(net.items())

    # ---- manager ---------------------------------------------------------------------------------

    def set_manager(self, user_id: str, manager_id: str) -> None:
        user = self.get(user_id, "user")
        manager = self.get(manager_id)
        if manager.kind not in ("user", "orgContact") or manager.id == user.id:
            raise bad_request("Invalid value specified for property 'manager' of resource 'User'.")
        if self.managers.get(user.id) == manager.id:
            self.noop_updates += 1
        self.managers[user.id] = manager.id
        self._manager_event(user.id, manager.id, self._touch(user))

    def remove_manager(self, user_id: str) -> None:
        user = self.get(user_id, "user")
        if self.managers.pop(user.id, None) is None:
            raise not_found(f"manager of {user.id}")
        self._manager_event(user.id, None, self._touch(user))

    def _manager_event(self, user_id: str, manager_id: str | None, seq: int) -> None:
        self.manager_events.setdefault(user_id, []).append((seq, manager_id))

    def manager_change(self, user_id: str, since: int) -> tuple[str | None, str | None] | None:
        """(manager at ``since``, manager now) when the user's manager changed after ``since``, else None."""
        events = self.manager_events.get(user_id, [])
        if not events or events[-1][0] <= since:
            return None
        before: str | None = None
        for seq, manager_id in events:
            if seq > since:
                break
            before = manager_id
        now = self.managers.get(user_id)
        return None if before == now else (before, now)

    # ---- applications and extension properties ------------------------------------------------

    def add_application(self, app_id: str, display_name: str) -> Application:
        app = Application(str(uuid.uuid4()), app_id, display_name)
        self.applications[app.id] = app
        return app

    def register_extension(self, app_object_id: str, body: dict[str, Any]) -> ExtensionProperty:
        app = self.applications.get(app_object_id)
        if app is None:
            raise not_found(app_object_id)
        name = body.get("name")
        data_type = body.get("dataType")
        targets = body.get("targetObjects")
        if not isinstance(name, str) or not name or len(name) > 120 or not name.replace("_", "").isalnum():
            raise bad_request("Invalid value specified for property 'name' of resource 'ExtensionProperty'.")
        if data_type not in ("String", "Boolean", "Integer", "LargeInteger", "DateTime", "Binary"):
            raise bad_request(
                "Invalid value specified for property 'dataType' of resource 'ExtensionProperty'."
            )
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
            raise bad_request(
                "Invalid value specified for property 'targetObjects' of resource 'ExtensionProperty'."
            )
        full = f"extension_{app.app_id.replace('-', '')}_{name}"
        if full in self.extensions:
            raise conflict("name")
        if len(self.extensions) >= 100:
            raise bad_request("An application can declare at most 100 extension properties.")
        ext = ExtensionProperty(
            str(uuid.uuid4()),
            full,
            data_type,
            tuple(targets),
            bool(body.get("isMultiValued", False)),
            app.id,
        )
        self.extensions[full] = ext
        return ext

    # ---- persistence ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        def dump(o: DirObject) -> dict[str, Any]:
            return {
                "id": o.id,
                "kind": o.kind,
                "props": o.props,
                "members": list(o.members) if o.members is not None else None,
                "deleted_at": o.deleted_at,
                "seq": o.seq,
            }

        return {
            "version": 1,
            "tenant_id": self.tenant_id,
            "initial_domain": self.initial_domain,
            "verified_domains": sorted(self.verified_domains),
            "seq": self.seq,
            "objects": [dump(o) for o in self.objects.values()],
            "deleted": [dump(o) for o in self.deleted.values()],
            "applications": [a.view() for a in self.applications.values()],
            "extensions": [{**e.view(), "appObjectId": e.app_object_id} for e in self.extensions.values()],
            "logs": {kind: log.entries for kind, log in self.logs.items()},
            "member_events": self.member_events,
            "managers": self.managers,
            "manager_events": self.manager_events,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Directory:
        d = cls(
            tenant_id=data["tenant_id"],
            initial_domain=data["initial_domain"],
            verified_domains=data["verified_domains"],
        )
        d.seq = data["seq"]
        for raw in data["applications"]:
            d.applications[raw["id"]] = Application(raw["id"], raw["appId"], raw["displayName"])
        for raw in data["extensions"]:
            d.extensions[raw["name"]] = ExtensionProperty(
                raw["id"],
                raw["name"],
                raw["dataType"],
                tuple(raw["targetObjects"]),
                raw["isMultiValued"],
                raw["appObjectId"],
            )
        for raw in data["objects"]:
            members = raw["members"]
            obj = DirObject(
                raw["id"],
                raw["kind"],
                raw["props"],
                dict.fromkeys(members) if members is not None else None,
                None,
                raw["seq"],
            )
            d.objects[obj.id] = obj
            d._by_kind[obj.kind][obj.id] = obj
            d._index(obj)
            for member_id in obj.members or {}:
                d.member_of.setdefault(member_id, set()).add(obj.id)
        for raw in data["deleted"]:
            d.deleted[raw["id"]] = DirObject(
                raw["id"],
                raw["kind"],
                raw["props"],
                {} if raw["kind"] == "group" else None,
                raw["deleted_at"],
                raw["seq"],
            )
        for kind, entries in data["logs"].items():
            log = d.logs[kind]
            for seq, object_id in entries:
                log.touch(seq, object_id)
        d.member_events = {k: [(s, m, a) for s, m, a in v] for k, v in data["member_events"].items()}
        d.managers = dict(data.get("managers", {}))
        d.manager_events = {k: [(s, m) for s, m in v] for k, v in data.get("manager_events", {}).items()}
        return d

    def save(self, path: Path) -> None:
        with self.lock:
            text = json.dumps(self.to_json(), separators=(",", ":"))
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Directory:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def ref_id(url: str) -> str:
    """The object id at the end of an ``@odata.id`` / ``@odata.bind`` URL (or a bare id)."""
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    if tail.startswith("directoryObjects("):
        tail = tail[len("directoryObjects(") :].strip("')")
    try:
        return str(uuid.UUID(tail))
    except ValueError:
        raise bad_request(f"Invalid object identifier '{tail}'.") from None
