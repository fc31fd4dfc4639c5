"""The emulator's ASGI application: token endpoint, bearer check, faults, throttling, ``$batch``.

A plain ASGI callable served by uvicorn: one event loop, so every directory operation runs to
completion before the next starts (the directory needs no locking for requests).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emulator.graph.auth import OAuthError, TokenIssuer
from emulator.graph.errors import GraphError, bad_request
from emulator.graph.faults import Fault, FaultInjector
from emulator.graph.routes import WRITE_METHODS, ApiRequest, ApiResponse, GraphApi
from emulator.graph.throttle import WriteThrottle, retry_after_header

log = logging.getLogger("emulator.graph")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BATCH = 20
_TOKEN_PATH = re.compile(r"/([^/]+)/oauth2/v2\.0/token/?")
_OPENID_PATH = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration/?")


def _throttled(wait_s: float) -> GraphError:
    return GraphError(
        429,
        "TooManyRequests",
        "Too many requests. Please retry after the time given in the Retry-After header.",
        headers={"Retry-After": retry_after_header(wait_s)},
    )


def _unavailable(retry_after_s: int) -> GraphError:
    return GraphError(
        503,
        "serviceNotAvailable",
        "The service is temporarily unavailable. Please retry.",
        headers={"Retry-After": str(retry_after_s)},
    )


@dataclass
class RequestStats:
    requests: int = 0
    batch_requests: int = 0
    writes: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class EmulatorApp:
    """ASGI app for one emulated tenant."""

    def __init__(
        self,
        api: GraphApi,
        issuer: TokenIssuer,
        throttle: WriteThrottle,
        faults: FaultInjector,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.issuer = issuer
        self.throttle = throttle
        self.faults = faults
        self.on_write = on_write or (lambda: None)
        self.stats = RequestStats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "127.0.0.1")
        origin = f"{scope.get('scheme', 'https')}://{host}"
        path: str = scope["path"]
        method: str = scope["method"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        self.stats.requests += 1
        if path.startswith("/v1.0/") or path == "/v1.0":
            await self._graph(send, method, path[len("/v1.0") :] or "/", query, body, headers, origin)
            return
        if method == "POST" and (m := _TOKEN_PATH.fullmatch(path)):
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            try:
                payload = self.issuer.issue(m.group(1), form, origin + path)
            except OAuthError as exc:
                await self._send_json(send, exc.status, exc.body(), {})
                return
            await self._send_json(send, 200, payload, {"Cache-Control": "no-store"})
            return
        if method == "GET" and path == "/_emulator/stats":
            # Not Graph: counters for benchmarks and tests, behind the same bearer check.
            if self.issuer.authenticate(headers.get("authorization")) is None:
                await self._send_json(
                    send, 401, {"error": {"code": "InvalidAuthenticationToken", "message": "No token."}}, {}
                )
                return
            await self._send_json(send, 200, self.counters(), {})
            return
        if method == "POST" and path == "/_emulator/reapply-quarantined":
            # Not Graph: run the service's hourly conflict re-check now (tests, demo).
            if self.issuer.authenticate(headers.get("authorization")) is None:
                await self._send_json(
                    send, 401, {"error": {"code": "InvalidAuthenticationToken", "message": "No token."}}, {}
                )
                return
            with self.api.d.lock:
                restored = self.api.d.reapply_quarantined()
            await self._send_json(send, 200, {"restored": restored}, {})
            return
        if method == "GET" and (m := _OPENID_PATH.fullmatch(path)):
            await self._send_json(send, 200, self.issuer.openid_configuration(origin, m.group(1)), {})
            return
        await self._send_json(
            send, 404, {"error": {"code": "NotFound", "message": f"No resource at '{path}'."}}, {}
        )

    def counters(self) -> dict[str, Any]:
        return {
            "requests": self.stats.requests,
            "batch_requests": self.stats.batch_requests,
            "writes": self.stats.writes,
            "throttled_writes": self.throttle.refused,
            "noop_updates": self.api.d.noop_updates,
            "faults": dict(self.faults.injected),
            "budget_writes": self.throttle.config.writes,
            "budget_window_s": self.throttle.config.window_s,
        }

    async def _graph(
        self,
        send: Send,
        method: str,
        path: str,
        query: dict[str, str],
        raw_body: bytes,
        headers: dict[str, str],
        origin: str,
    ) -> None:
        base = origin + "/v1.0"
        client_id = self.issuer.authenticate(headers.get("authorization"))
        if client_id is None:
            err = GraphError(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
            await self._send_json(send, err.status, err.body(), {"WWW-Authenticate": 'Bearer realm=""'})
            return
        fault = self.faults.draw()
        if fault is Fault.THROTTLE:
            err = _throttled(self.faults.config.retry_after_s)
            await self._send_json(send, err.status, err.body(), err.headers)
            return
        if fault is Fault.UNAVAILABLE:
            err = _unavailable(self.faults.config.retry_after_s)
            await self._send_json(send, err.status, err.body(), err.headers)
            return
        throttle_key = f"{self.issuer.tenant_id}/{client_id}"
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            resp = self._error(bad_request("The request body is not valid JSON."))
        else:
            if path.rstrip("/") == "/$batch" and method == "POST":
                self.stats.batch_requests += 1
                resp = self._batch(body, base, throttle_key, headers)
            else:
                resp = self._one(ApiRequest(method, path, query, body, headers), base, throttle_key)
        self.stats.by_status[resp.status] = self.stats.by_status.get(resp.status, 0) + 1
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(self.faults.config.timeout_delay_s)
        if fault is Fault.DROP:
            # Start the response, send half of it, and return: the server closes the connection.
            payload = json.dumps(resp.body).encode() if resp.body is not None else b"{}"
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload) + 64).encode()),
                    ],
                }
            )
            await send(
                {"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True}
            )
            return
        if resp.body is None:
            await self._send_raw(send, resp.status, b"", resp.headers, content_type=None)
        else:
            await self._send_json(send, resp.status, resp.body, resp.headers)

    def _error(self, exc: GraphError) -> ApiResponse:
        return ApiResponse(exc.status, exc.body(), dict(exc.headers))

    def _one(self, req: ApiRequest, base: str, throttle_key: str) -> ApiResponse:
        try:
            if req.method in WRITE_METHODS:
                wait = self.throttle.acquire(throttle_key)
                if wait is not None:
                    raise _throttled(wait)
            resp = self.api.handle(req, base)
        except GraphError as exc:
            return self._error(exc)
        if req.method in WRITE_METHODS:
            self.stats.writes += 1
            self.on_write()
        return resp

    def _batch(self, body: Any, base: str, throttle_key: str, headers: dict[str, str]) -> ApiResponse:
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            return self._error(bad_request("Invalid batch payload: 'requests' is required."))
        requests: list[Any] = body["requests"]
        if len(requests) > MAX_BATCH:
            return self._error(
                GraphError(400, "BadRequest", f"Number of requests exceeds the maximum of {MAX_BATCH}.")
            )
        ids = [r.get("id") if isinstance(r, dict) else None for r in requests]
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            return self._error(
                GraphError(400, "BadRequest", "Each batch request needs a unique string 'id'.")
            )
        status_by_id: dict[str, int] = {}
        responses: list[dict[str, Any]] = []
        for raw in requests:
            rid = raw["id"]
            depends = raw.get("dependsOn") or []
            if any(d not in status_by_id for d in depends):
                return self._error(
                    GraphError(
                        400, "BadRequest", f"Request '{rid}' depends on a request that is not before it."
                    )
                )
            if any(not (200 <= status_by_id[d] < 300) for d in depends):
                resp = ApiResponse(
                    424, {"error": {"code": "FailedDependency", "message": "Dependent request failed."}}
                )
            else:
                resp = self._batch_item(raw, base, throttle_key, headers)
            status_by_id[rid] = resp.status
            item: dict[str, Any] = {"id": rid, "status": resp.status, "headers": resp.headers}
            if resp.body is not None:
                item["body"] = resp.body
                item["headers"] = {"Content-Type": "application/json", **resp.headers}
            responses.append(item)
        return ApiResponse(200, {"responses": responses})

    def _batch_item(
        self, raw: dict[str, Any], base: str, throttle_key: str, headers: dict[str, str]
    ) -> ApiResponse:
        method = str(raw.get("method", "GET")).upper()
        url = raw.get("url")
        if not isinstance(url, str) or url.startswith(("http://", "https://")):
            return self._error(bad_request("Batch request URLs must be relative, e.g. '/users'."))
        parts = urlsplit(url if url.startswith("/") else "/" + url)
        path = parts.path
        if path.startswith("/v1.0/"):
            path = path[len("/v1.0") :]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        item_headers = {k.lower(): str(v) for k, v in (raw.get("headers") or {}).items()}
        body = raw.get("body")
        if body is not None and method in ("POST", "PATCH", "PUT") and "content-type" not in item_headers:
            return self._error(bad_request("A batch request with a body needs a Content-Type header."))
        fault = self.faults.draw(allow_after=False)
        if fault is Fault.THROTTLE:
            return self._error(_throttled(self.faults.config.retry_after_s))
        if fault is Fault.UNAVAILABLE:
            return self._error(_unavailable(self.faults.config.retry_after_s))
        merged = {**{k: v for k, v in headers.items() if k == "prefer"}, **item_headers}
        return self._one(ApiRequest(method, path, query, body, merged), base, throttle_key)

    async def _send_json(self, send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
        await self._send_raw(
            send, status, json.dumps(body).encode(), headers, content_type="application/json"
        )

    async def _send_raw(
        self, send: Send, status: int, payload: bytes, headers: dict[str, str], *, content_type: str | None
    ) -> None:
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if content_type is not None:
            raw_headers.append((b"content-type", content_type.encode()))
        raw_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})
