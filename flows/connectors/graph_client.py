"""The one choke point between forestsync and Microsoft Graph.

Every Graph call of the Entra connector goes through :class:`GraphClient`: it owns the httpx client
that msgraph-core's middleware pipeline wraps (the SDK's HTTP transport), asks azure-identity for tokens
through kiota's access-token provider (which refuses hosts outside ``allowed_hosts``), honours
``Retry-After``, paces writes to the tenant's throttling budget, maps HTTP and library errors to the
exception tree, and keeps tokens and secrets out of every message. Bodies are returned as raw JSON
(dicts): the SDK's typed models cost milliseconds per object and its batch support drops bodies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from kiota_authentication_azure.azure_identity_access_token_provider import AzureIdentityAccessTokenProvider
from kiota_http.middleware.options import RetryHandlerOption
from msgraph_core import GraphClientFactory

from flows.errors import ConnectorError, TransientConnectorError
from transforms.errors import ForestsyncError

log = logging.getLogger("forestsync.graph")

MAX_BATCH = 20
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_SECRET_PATTERNS = (
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
    re.compile(
        r"((?:client_secret|client_assertion|access_token|password)[\"']?\s*[=:]\s*[\"']?)[^\"'&\s,}]+",
        re.IGNORECASE,
    ),
)


def redact(text: str) -> str:
    """Mask bearer tokens, client secrets, assertions and passwords in a message."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class GraphError(ForestsyncError):
    """A Graph call failed. ``error_type`` is the product's export error name where one applies."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        target: str | None = None,
        error_type: str = "GraphError",
    ) -> None:
        super().__init__(redact(message))
        self.status = status
        self.code = code
        self.target = target
        self.error_type = error_type


class GraphTransientError(GraphError, TransientConnectorError):
    """Throttling, unavailability, timeouts, dropped connections."""


class GraphThrottledError(GraphTransientError):
    def __init__(self, message: str, *, retry_after_s: float, status: int = 429) -> None:
        super().__init__(message, status=status, code="TooManyRequests", error_type="Throttled")
        self.retry_after_s = retry_after_s


class GraphOutcomeUnknownError(GraphTransientError):
    """The request may or may not have taken effect (timeout, dropped connection, 5xx)."""


class GraphTerminalError(GraphError, ConnectorError):
    """The service refused the request; retrying it unchanged fails the same way."""


class GraphAuthError(GraphTerminalError):
    """No token could be obtained, or the service refused it."""


def error_type_for(status: int, code: str | None, message: str, target: str | None) -> str:
    """The product's export error name for a Graph error response."""
    text = message.lower()
    if target is not None and "another object with the same value" in text:
        return "AttributeValueMustBeUnique"
    if status == 401:
        return "AuthenticationFailed"
    if status == 403:
        return "AccessDenied"
    if status == 404:
        return "ObjectNotFound"
    if "security groups and microsoft 365 groups" in text:
        return "UnsupportedGroupType"
    if status == 405 or "can be created through microsoft graph" in text:
        return "UnsupportedObjectType"
    if "read-only" in text or "does not exist as a declared property" in text:
        return "AttributeNotWritable"
    if "domain portion of the userprincipalname" in text or (target == "userPrincipalName"):
        return "IdentityDataValidationFailed"
    if "password complexity" in text:
        return "PasswordPolicyViolation"
    if "already exist for the following modified properties" in text:
        return "ReferenceAlreadyExists"
    if "invalid value specified for property" in text:
        return "InvalidAttributeValue"
    if "is required" in text:
        return "MissingRequiredAttribute"
    return "GraphError"


def parse_error_body(body: Any) -> tuple[str | None, str, str | None]:
    """``(code, message, target)`` of a Graph error body."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        details = err.get("details") or []
        target = details[0].get("target") if details and isinstance(details[0], dict) else None
        return err.get("code"), str(err.get("message", "")), target
    return None, str(body)[:500], None


def retry_after_s(headers: Any, attempt: int) -> float:
    """Seconds to wait: the ``Retry-After`` header when given, else capped exponential backoff with jitter."""
    value = None
    if headers is not None:
        for key in ("Retry-After", "retry-after"):
            if key in headers:
                value = headers[key]
                break
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return float(min(30.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2))


@dataclass(frozen=True)
class GraphClientSettings:
    base_url: str = "https://graph.microsoft.com/v1.0"
    scopes: tuple[str, ...] = ("https://graph.microsoft.com/.default",)
    verify: str | bool = True  # CA bundle path (the emulator's CA) or True for the system store
    timeout_s: float = 60.0
    max_attempts: int = 8
    max_concurrency: int = 4
    write_budget: int = 3000  # writes per app and tenant ...
    write_window_s: float = 150.0  # ... in any window of this many seconds
    budget_share: float = 0.98  # keep a margin for clock skew between client and service
    page_size: int = 999


@dataclass
class WriteBudget:
    """Client-side pacing of writes at the tenant's budget rate (a token bucket with a small burst).

    The service counts writes in a sliding window; sending at a steady ``writes / window_s`` keeps
    every window under the limit even when requests arrive bunched, so a 429 (and the whole-second
    ``Retry-After`` it imposes) stays the exception. After a 429 every sender pauses.
    """

    writes: int
    window_s: float
    burst: int = 40
    paused_until: float = 0.0
    _tokens: float = -1.0
    _last: float = 0.0

    @property
    def rate(self) -> float:
        # The burst is part of the window's allowance: burst + rate * window never exceeds ``writes``.
        burst = min(self.burst, self.writes // 2)
        return (self.writes - burst) / self.window_s

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def acquire(self, count: int) -> None:
        burst = max(1, min(self.burst, self.writes // 2))
        count = min(count, burst)
        while True:
            now = time.monotonic()
            if now < self.paused_until:
                await asyncio.sleep(self.paused_until - now)
                continue
            if self._tokens < 0:
                self._tokens, self._last = float(burst), now
            self._tokens = min(float(burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= count:
                self._tokens -= count
                return
            await asyncio.sleep((count - self._tokens) / self.rate)


@dataclass
class GraphResponse:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class GraphStats:
    http_requests: int = 0
    batch_requests: int = 0
    batch_items: int = 0
    throttled: int = 0
    retries: int = 0


class GraphClient:
    """Async Graph session. Use ``async with GraphClient(...) as graph:`` inside one event loop."""

    def __init__(
        self, credential: Any, settings: GraphClientSettings, budget: WriteBudget | None = None
    ) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        host = urlsplit(self.base_url).hostname or ""
        self._token_provider = AzureIdentityAccessTokenProvider(
            credential, None, list(settings.scopes), allowed_hosts=[host]
        )
        # Pass the same budget to successive sessions: the service's window remembers earlier writes.
        self.budget = budget or WriteBudget(
            max(1, int(settings.write_budget * settings.budget_share)), settings.write_window_s
        )
        self.stats = GraphStats()
        self._http: httpx.AsyncClient | None = None
        self._token: tuple[str, float] | None = None

    async def __aenter__(self) -> GraphClient:
        verify = self.settings.verify
        client = httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            timeout=httpx.Timeout(self.settings.timeout_s),
            limits=httpx.Limits(max_connections=self.settings.max_concurrency + 2),
        )
        # The SDK's middleware pipeline, with its retry handler off: retries are decided here, where
        # the outcome of a write (applied or not) is known.
        self._http = GraphClientFactory.create_with_default_middleware(
            client=client, options={RetryHandlerOption.get_key(): RetryHandlerOption(should_retry=False)}
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ---- plumbing --------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    async def _authorization(self, url: str) -> str:
        now = time.monotonic()
        if self._token is None or self._token[1] < now:
            try:
                token = await self._token_provider.get_authorization_token(url)
            except Exception as exc:  # azure-identity raises many types; all mean "no token"
                raise GraphAuthError(f"could not obtain a Graph token: {type(exc).__name__}: {exc}") from None
            if not token:
                raise GraphAuthError(
                    f"no token for host of {urlsplit(url).hostname!r}: not an allowed Graph host"
                )
            # azure-identity caches and refreshes; re-asking every few minutes keeps refresh in its hands.
            self._token = (token, now + 300)
        return f"Bearer {self._token[0]}"

    async def send(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> GraphResponse:
        """One HTTP exchange, no retry. Network failures become :class:`GraphOutcomeUnknownError`."""
        assert self._http is not None, "use GraphClient as an async context manager"
        url = self.url(path)
        all_headers = {"Authorization": await self._authorization(url), **(headers or {})}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            all_headers["Content-Type"] = "application/json"
        self.stats.http_requests += 1
        try:
            response = await self._http.request(method, url, content=content, headers=all_headers)
        except httpx.TimeoutException as exc:
            raise GraphOutcomeUnknownError(
                f"{method} {urlsplit(url).path}: timed out ({type(exc).__name__})"
            ) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise GraphOutcomeUnknownError(
                f"{method} {urlsplit(url).path}: connection failed ({type(exc).__name__})"
            ) from None
        if response.status_code == 401:
            self._token = None
        parsed: Any = None
        if response.content:
            try:
                parsed = response.json()
            except ValueError:
                parsed = {"error": {"code": "InvalidResponse", "message": response.text[:500]}}
        return GraphResponse(response.status_code, dict(response.headers), parsed)

    def raise_for(self, method: str, path: str, resp: GraphResponse, attempt: int = 0) -> None:
        if resp.status < 400:
            return
        code, message, target = parse_error_body(resp.body)
        where = f"{method} {urlsplit(self.url(path)).path}: {resp.status} {code}: {message}"
        if resp.status == 429:
            raise GraphThrottledError(where, retry_after_s=retry_after_s(resp.headers, attempt))
        if resp.status in TRANSIENT_STATUS:
            raise GraphOutcomeUnknownError(where, status=resp.status, code=code)
        if resp.status == 401:
            raise GraphAuthError(where, status=401, code=code, error_type="AuthenticationFailed")
        raise GraphTerminalError(
            where,
            status=resp.status,
            code=code,
            target=target,
            error_type=error_type_for(resp.status, code, message, target),
        )

    async def request(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        """An idempotent request (GET, or a write safe to repeat), retried while transient; returns the body."""
        attempt = 0
        while True:
            try:
                resp = await self.send(method, path, body=body, headers=headers)
                self.raise_for(method, path, resp, attempt)
                return resp.body
            except GraphTransientError as exc:
                attempt += 1
                if attempt >= self.settings.max_attempts:
                    raise
                wait = (
                    exc.retry_after_s
                    if isinstance(exc, GraphThrottledError)
                    else retry_after_s(None, attempt)
                )
                if isinstance(exc, GraphThrottledError):
                    self.stats.throttled += 1
                    self.budget.pause(wait)
                self.stats.retries += 1
                log.info("Graph transient error, retrying in %.1fs: %s", wait, exc)
                await asyncio.sleep(wait)

    async def pages(
        self, path: str, *, headers: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a collection or delta round, following ``@odata.nextLink``."""
        url: str | None = path
        hdrs = {"Prefer": f"odata.maxpagesize={self.settings.page_size}", **(headers or {})}
        while url is not None:
            page = await self.request("GET", url, headers=hdrs)
            if not isinstance(page, dict):
                raise GraphTerminalError(f"GET {url}: the response is not a JSON object")
            yield page
            url = page.get("@odata.nextLink")

    async def batch(self, requests: list[dict[str, Any]]) -> dict[str, GraphResponse]:
        """POST one ``$batch`` (at most 20 requests); returns the responses by request id.

        A 429 on the whole batch is retried here (nothing was applied). A lost or failed batch response
        raises :class:`GraphOutcomeUnknownError`: the caller decides per request how to recover.
        """
        if not 0 < len(requests) <= MAX_BATCH:
            raise ValueError(f"a $batch holds 1 to {MAX_BATCH} requests, not {len(requests)}")
        attempt = 0
        while True:
            self.stats.batch_requests += 1
            self.stats.batch_items += len(requests)
            resp = await self.send("POST", "$batch", body={"requests": requests})
            if resp.status == 429:
                attempt += 1
                wait = retry_after_s(resp.headers, attempt)
                self.stats.throttled += 1
                self.budget.pause(wait)
                if attempt >= self.settings.max_attempts:
                    self.raise_for("POST", "$batch", resp, attempt)
                await asyncio.sleep(wait)
                continue
            self.raise_for("POST", "$batch", resp, attempt)
            out: dict[str, GraphResponse] = {}
            for item in (resp.body or {}).get("responses", []):
                out[str(item.get("id"))] = GraphResponse(
                    int(item.get("status", 500)), dict(item.get("headers") or {}), item.get("body")
                )
            return out
