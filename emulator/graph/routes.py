"""Graph v1.0 resources over a :class:`Directory`: one synchronous dispatcher used for direct requests
and for each request of a ``$batch``.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from emulator.graph.errors import GraphError, bad_request, not_found
from emulator.graph.odata import MAX_PAGE_SIZE, parse_filter, parse_select, parse_top
from emulator.graph.schema import COLLECTIONS, ODATA_TYPE, USER_DEFAULT_SELECT
from emulator.graph.store import Directory, DirObject, ref_id

DELTA_PAGE_SIZE = 200
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class ApiRequest:
    method: str
    path: str  # below /v1.0, starting with "/"
    query: dict[str, str]
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


@dataclass
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _untoken(text: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise bad_request("The skip or delta token is invalid.") from None
    if not isinstance(value, dict):
        raise bad_request("The skip or delta token is invalid.")
    return value


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


Handler = Callable[[ApiRequest, list[str], str], ApiResponse]


class GraphApi:
    """Routes one request to the directory and renders Graph's JSON for it."""

    def __init__(self, directory: Directory) -> None:
        self.d = directory
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        coll = "(users|groups|contacts|devices)"
        oid = r"([^/]+)"
        for method, pattern, handler in (
            ("GET", rf"/{coll}/delta", self.delta),
            ("GET", rf"/{coll}", self.list_objects),
            ("POST", rf"/{coll}", self.create),
            ("GET", rf"/groups/{oid}/members(?:/\$ref)?", self.list_members),
            ("POST", rf"/groups/{oid}/members/\$ref", self.add_member),
            ("DELETE", rf"/groups/{oid}/members/{oid}/\$ref", self.remove_member),
            ("GET", rf"/users/{oid}/manager", self.get_manager),
            ("PUT", rf"/users/{oid}/manager/\$ref", self.set_manager),
            ("DELETE", rf"/users/{oid}/manager/\$ref", self.remove_manager),
            ("GET", rf"/{coll}/{oid}", self.get),
            ("PATCH", rf"/{coll}/{oid}", self.update),
            ("DELETE", rf"/{coll}/{oid}", self.delete),
            ("GET", rf"/directoryObjects/{oid}", self.get_directory_object),
            ("GET", r"/directory/deletedItems/microsoft\.graph\.(user|group)", self.list_deleted),
            ("GET", rf"/directory/deletedItems/{oid}", self.get_deleted),
            ("POST", rf"/directory/deletedItems/{oid}/restore", self.restore),
            ("DELETE", rf"/directory/deletedItems/{oid}", self.purge),
            ("GET", r"/applications", self.list_applications),
            ("GET", rf"/applications/{oid}", self.get_application),
            ("GET", rf"/applications/{oid}/extensionProperties", self.list_extensions),
            ("POST", rf"/applications/{oid}/extensionProperties", self.register_extension),
            ("GET", r"/organization", self.organization),
            ("GET", r"/domains", self.domains),
        ):
            self.routes.append((method, re.compile(pattern + r"/?"), handler))

    def handle(self, req: ApiRequest, base_url: str) -> ApiResponse:
        """``base_url`` is the absolute ``.../v1.0`` root used in links."""
        path_matched = False
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            path_matched = True
            if method == req.method:
                with self.d.lock:
                    return handler(req, list(match.groups()), base_url)
        if path_matched:
            raise GraphError(
                405,
                "Request_BadRequest",
                f"The HTTP method '{req.method}' is not supported on this resource.",
            )
        raise GraphError(
            400, "BadRequest", f"Resource not found for the segment '{req.path.strip('/').split('/')[0]}'."
        )

    # ---- helpers ---------------------------------------------------------------------------------

    def _body(self, req: ApiRequest) -> dict[str, Any]:
        if not isinstance(req.body, dict):
            raise bad_request("The request body must be a JSON object.")
        return req.body

    def _resolve(self, kind: str, key: str) -> DirObject:
        if kind == "user" and not _is_guid(key):
            wanted = key.lower()
            for obj in self.d.of_kind("user"):
                if str(obj.props.get("userPrincipalName", "")).lower() == wanted:
                    return obj
            raise not_found(key)
        return self.d.get(key, kind)

    def _select(self, kind: str, req: ApiRequest) -> list[str] | None:
        select = parse_select(req.query.get("$select"))
        if select is None and kind == "user":
            return list(USER_DEFAULT_SELECT)
        return select

    # ---- collections -----------------------------------------------------------------------------

    def list_objects(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        coll = args[0]
        kind = COLLECTIONS[coll]
        skip = req.query.get("$skiptoken")
        state = _untoken(skip) if skip else {}
        query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
        advanced = "$count" in query or "$search" in query or "$orderby" in query
        if advanced and req.headers.get("consistencylevel", "").lower() != "eventual":
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                "Unsupported Query. This query needs ConsistencyLevel: eventual.",
            )
        pred = parse_filter(query.get("$filter"))
        top = parse_top(query.get("$top"))
        select = self._select(kind, req)
        offset = int(state.get("o", 0))
        page: list[dict[str, Any]] = []
        position = 0
        more = False
        for obj in self.d.of_kind(kind):
            if pred is not None and not pred(obj.view()):
                continue
            if position >= offset:
                if len(page) == top:
                    more = True
                    break
                page.append(self.d.render(obj, select))
            position += 1
        out: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{coll}", "value": page}
        if more:
            out["@odata.nextLink"] = f"{base}/{coll}?" + urlencode(
                {**query, "$skiptoken": _token({"o": offset + top})}, quote_via=quote
            )
        return ApiResponse(200, out)

    def create(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        kind = COLLECTIONS[args[0]]
        if kind == "device":
            # Graph v1.0 creates devices for delegated callers only (Directory.AccessAsUser.All and an
            # Intune or Windows 365 Administrator); every token of the emulator is an application token.
            raise GraphError(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )
        obj = self.d.create(kind, self._body(req))
        return ApiResponse(
            201,
            {"@odata.context": f"{base}/$metadata#{args[0]}/$entity", **obj.view()},
            {"Location": f"{base}/{args[0]}/{obj.id}"},
        )

    def get(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        kind = COLLECTIONS[args[0]]
        obj = self._resolve(kind, args[1])
        return ApiResponse(
            200,
            {
                "@odata.context": f"{base}/$metadata#{args[0]}/$entity",
                **self.d.render(obj, self._select(kind, req)),
            },
        )

    def update(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        kind = COLLECTIONS[args[0]]
        obj = self._resolve(kind, args[1])
        self.d.update(obj.id, kind, self._body(req))
        return ApiResponse(204)

    def delete(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        kind = COLLECTIONS[args[0]]
        obj = self._resolve(kind, args[1])
        self.d.delete(obj.id, kind)
        return ApiResponse(204)

    # ---- members ---------------------------------------------------------------------------------

    def list_members(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        group = self.d.get(args[0], "group")
        assert group.members is not None
        top = parse_top(req.query.get("$top"))
        skip = req.query.get("$skiptoken")
        offset = int(_untoken(skip).get("o", 0)) if skip else 0
        select = parse_select(req.query.get("$select"))
        ids = list(group.members)[offset : offset + top]
        out: dict[str, Any] = {
            "@odata.context": f"{base}/$metadata#directoryObjects",
            "value": [
                self.d.render(self.d.objects[m], select, with_type=True) for m in ids if m in self.d.objects
            ],
        }
        if offset + top < len(group.members):
            query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            out["@odata.nextLink"] = f"{base}{req.path}?" + urlencode(
                {**query, "$skiptoken": _token({"o": offset + top})}, quote_via=quote
            )
        return ApiResponse(200, out)

    def add_member(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        ref = self._body(req).get("@odata.id")
        if not isinstance(ref, str):
            raise bad_request("The request body must carry '@odata.id'.")
        self.d.add_member(args[0], ref_id(ref))
        return ApiResponse(204)

    def remove_member(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        self.d.remove_member(args[0], args[1])
        return ApiResponse(204)

    # ---- manager ---------------------------------------------------------------------------------

    def get_manager(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        user = self._resolve("user", args[0])
        manager_id = self.d.managers.get(user.id)
        if manager_id is None or manager_id not in self.d.objects:
            raise not_found(f"manager of {user.id}")
        select = parse_select(req.query.get("$select"))
        return ApiResponse(200, self.d.render(self.d.objects[manager_id], select, with_type=True))

    def set_manager(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        ref = self._body(req).get("@odata.id")
        if not isinstance(ref, str):
            raise bad_request("The request body must carry '@odata.id'.")
        user = self._resolve("user", args[0])
        self.d.set_manager(user.id, ref_id(ref))
        return ApiResponse(204)

    def remove_manager(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        user = self._resolve("user", args[0])
        self.d.remove_manager(user.id)
        return ApiResponse(204)

    # ---- delta -----------------------------------------------------------------------------------

    def delta(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        coll = args[0]
        kind = COLLECTIONS[coll]
        if "$deltatoken" in req.query:
            state = _untoken(req.query["$deltatoken"])
            state = {"s": int(state["s"]), "u": self.d.seq, "a": 0, "sel": state.get("sel")}
        elif "$skiptoken" in req.query:
            state = _untoken(req.query["$skiptoken"])
        else:
            if "$filter" in req.query:
                # Graph's delta only filters on id; the subset forestsync needs has no filter.
                raise GraphError(
                    400, "Request_UnsupportedQuery", "Unsupported Query. $filter is not supported on delta."
                )
            state = {"s": 0, "u": self.d.seq, "a": 0, "sel": req.query.get("$select")}
        since, upto, after = int(state["s"]), int(state["u"]), int(state["a"])
        select = parse_select(state.get("sel"))
        if select is None and kind == "user":
            select = list(USER_DEFAULT_SELECT)
        with_members = kind == "group" and (select is None or "members" in select)
        # users/delta tracks the manager navigation property when $select names it (manager@delta).
        with_manager = kind == "user" and select is not None and "manager" in select
        attr_select = [s for s in select if s not in ("members", "manager")] if select is not None else None
        page_size = DELTA_PAGE_SIZE
        prefer = req.headers.get("prefer", "")
        match = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        if match:
            page_size = max(1, min(MAX_PAGE_SIZE, int(match.group(1))))
        value: list[dict[str, Any]] = []
        last = after
        more = False
        for seq, object_id in self.d.logs[kind].changed_between(since, upto, after):
            if len(value) == page_size:
                more = True
                break
            last = seq
            obj = self.d.objects.get(object_id)
            if obj is None:
                if since == 0:
                    continue
                reason = "changed" if object_id in self.d.deleted else "deleted"
                value.append({"id": object_id, "@removed": {"reason": reason}})
                continue
            item = self.d.render(obj, attr_select)
            if with_members:
                item["members@delta"] = self._members_delta(obj, since)
            if with_manager:
                manager = self._manager_delta(obj, since)
                if manager is not None:
                    item["manager@delta"] = manager
            value.append(item)
        out: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{coll}", "value": value}
        if more:
            out["@odata.nextLink"] = f"{base}/{coll}/delta?$skiptoken=" + _token(
                {"s": since, "u": upto, "a": last, "sel": state.get("sel")}
            )
        else:
            out["@odata.deltaLink"] = f"{base}/{coll}/delta?$deltatoken=" + _token(
                {"s": upto, "sel": state.get("sel")}
            )
        return ApiResponse(200, out)

    def _members_delta(self, group: DirObject, since: int) -> list[dict[str, Any]]:
        if since == 0:
            changes = [(m, True) for m in group.members or {}]
        else:
            changes = self.d.member_changes(group.id, since)
        out: list[dict[str, Any]] = []
        for member_id, added in changes:
            member = self.d.objects.get(member_id)
            odata_type = ODATA_TYPE[member.kind] if member is not None else "#microsoft.graph.directoryObject"
            entry: dict[str, Any] = {"@odata.type": odata_type, "id": member_id}
            if not added:
                entry["@removed"] = {"reason": "deleted"}
            out.append(entry)
        return out

    def _manager_delta(self, user: DirObject, since: int) -> list[dict[str, Any]] | None:
        """``manager@delta`` of a user in a round after ``since``; None when the manager did not change.

        A fresh round names the current manager; a later one names the new manager, or the one removed
        (``@removed``), as Graph reports a navigation link added or removed.
        """
        if since == 0:
            before, now = None, self.d.managers.get(user.id)
            if now is None:
                return None
        else:
            change = self.d.manager_change(user.id, since)
            if change is None:
                return None
            before, now = change
        manager_id = now if now is not None else before
        manager = self.d.objects.get(str(manager_id))
        odata_type = ODATA_TYPE[manager.kind] if manager is not None else "#microsoft.graph.directoryObject"
        entry: dict[str, Any] = {"@odata.type": odata_type, "id": manager_id}
        if now is None:
            entry["@removed"] = {"reason": "deleted"}
        return [entry]

    # ---- directory objects and deleted items -----------------------------------------------------

    def get_directory_object(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        obj = self.d.get(args[0])
        return ApiResponse(200, self.d.render(obj, parse_select(req.query.get("$select")), with_type=True))

    def list_deleted(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        select = parse_select(req.query.get("$select"))
        value = [
            {**self.d.render(o, select, with_type=True), "deletedDateTime": o.deleted_at}
            for o in self.d.deleted.values()
            if o.kind == args[0]
        ]
        return ApiResponse(200, {"@odata.context": f"{base}/$metadata#directoryObjects", "value": value})

    def get_deleted(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        obj = self.d.deleted.get(args[0])
        if obj is None:
            raise not_found(args[0])
        return ApiResponse(
            200, {**self.d.render(obj, None, with_type=True), "deletedDateTime": obj.deleted_at}
        )

    def restore(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        obj = self.d.restore(args[0])
        return ApiResponse(200, self.d.render(obj, None, with_type=True))

    def purge(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        self.d.purge(args[0])
        return ApiResponse(204)

    # ---- applications, organization ------------------------------------------------------------

    def list_applications(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        apps = [a.view() for a in self.d.applications.values()]
        flt = req.query.get("$filter")
        if flt:
            match = re.fullmatch(r"\s*appId\s+eq\s+'([^']*)'\s*", flt)
            if match is None:
                raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
            apps = [a for a in apps if a["appId"] == match.group(1)]
        return ApiResponse(200, {"@odata.context": f"{base}/$metadata#applications", "value": apps})

    def get_application(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        app = self.d.applications.get(args[0])
        if app is None:
            raise not_found(args[0])
        return ApiResponse(200, app.view())

    def list_extensions(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        if args[0] not in self.d.applications:
            raise not_found(args[0])
        value = [e.view() for e in self.d.extensions.values() if e.app_object_id == args[0]]
        return ApiResponse(200, {"value": value})

    def register_extension(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        ext = self.d.register_extension(args[0], self._body(req))
        return ApiResponse(201, ext.view())

    def organization(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        domains = [
            {
                "name": name,
                "isDefault": name == self.d.initial_domain,
                "isInitial": name == self.d.initial_domain,
                "capabilities": "Email, OfficeCommunicationsOnline",
                "type": "Managed",
            }
            for name in sorted(self.d.verified_domains)
        ]
        org = {
            "id": self.d.tenant_id,
            "displayName": "forestsync emulated tenant",
            "verifiedDomains": domains,
            "onPremisesSyncEnabled": True,
        }
        return ApiResponse(200, {"value": [org]})

    def domains(self, req: ApiRequest, args: list[str], base: str) -> ApiResponse:
        value = [
            {"id": name, "isVerified": True, "isInitial": name == self.d.initial_domain}
            for name in sorted(self.d.verified_domains)
        ]
        return ApiResponse(200, {"value": value})
