"""The one choke point around ldap3.

Everything the AD connector sends to a directory goes through :class:`LdapClient`: it builds the TLS
context (validation on by default), refuses a bind over an unencrypted connection unless the settings
say ``allow_insecure``, maps ldap3's exceptions onto the forestsync tree (transient: the server is down,
busy or slow; terminal: everything a retry cannot fix), escapes values that end up in filters, and keeps
the bind password out of every message it raises or logs.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ldap3
from ldap3.core import exceptions as lx
from ldap3.protocol.microsoft import dir_sync_control, show_deleted_control
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from flows.connectors.ad_decode import RawEntry
from flows.errors import ConnectorError, TransientConnectorError

log = logging.getLogger(__name__)

TlsMode = Literal["ldaps", "starttls", "none"]

OID_PAGED = "1.2.840.113556.1.4.319"
OID_DIRSYNC = "1.2.840.113556.1.4.841"
OID_SHOW_DELETED = "1.2.840.113556.1.4.417"
OID_TREE_DELETE = "1.2.840.113556.1.4.805"


# --- errors -----------------------------------------------------------------------------------------


class LdapTransientError(TransientConnectorError):
    """The directory could not answer now (down, busy, timed out); the operation may be retried."""

    def __init__(self, message: str, error_type: str = "ServerUnavailable") -> None:
        super().__init__(message)
        self.error_type = error_type


class LdapTerminalError(ConnectorError):
    """The directory refused the operation; retrying it unchanged fails the same way."""

    def __init__(self, message: str, error_type: str = "LdapError") -> None:
        super().__init__(message)
        self.error_type = error_type


class InvalidCredentialsError(LdapTerminalError):
    """The bind DN or its password was rejected."""


class NoSuchObjectError(LdapTerminalError):
    """The target (or a search base) does not exist."""


class ConstraintViolationError(LdapTerminalError):
    """The change breaks a schema or value rule (constraint, existing value, object class, uniqueness)."""


class InsecureBindRefusedError(LdapTerminalError):
    """A bind would send the password over an unencrypted connection and ``allow_insecure`` is not set."""


class CertificateValidationError(LdapTerminalError):
    """The server's certificate is not trusted by the configured CA or does not name the server."""


class DirSyncCookieRejectedError(LdapTerminalError):
    """The server refused a DirSync cookie (corrupt, from another server, or expired)."""


class DirSyncNotPermittedError(LdapTerminalError):
    """The bind account lacks 'Replicating Directory Changes': use the USN delta instead."""


_TRANSIENT: tuple[type[Exception], ...] = (
    lx.LDAPBusyResult,
    lx.LDAPUnavailableResult,
    lx.LDAPTimeLimitExceededResult,
    lx.LDAPLoopDetectedResult,
    lx.LDAPResponseTimeoutError,
    lx.LDAPSocketReceiveError,
    lx.LDAPSocketSendError,
    lx.LDAPSessionTerminatedByServerError,
    lx.LDAPSocketCloseError,
)
_CONSTRAINT: tuple[type[Exception], ...] = (
    lx.LDAPConstraintViolationResult,
    lx.LDAPAttributeOrValueExistsResult,
    lx.LDAPEntryAlreadyExistsResult,
    lx.LDAPObjectClassViolationResult,
    lx.LDAPNotAllowedOnNotLeafResult,
    lx.LDAPNotAllowedOnRDNResult,
    lx.LDAPNamingViolationResult,
    lx.LDAPInvalidAttributeSyntaxResult,
    lx.LDAPNoSuchAttributeResult,
    lx.LDAPUndefinedAttributeTypeResult,
    lx.LDAPObjectClassModsProhibitedResult,
)


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def map_ldap_error(exc: Exception, *, secrets: Sequence[str] = (), context: str = "") -> Exception:
    """Translate an ldap3 (or socket/TLS) exception into the forestsync tree, secrets redacted."""
    result = getattr(exc, "result", None)
    description = getattr(exc, "description", None) or type(exc).__name__
    detail = getattr(exc, "message", None) or str(exc)
    prefix = f"{context}: " if context else ""
    message = redact(f"{prefix}{description}: {detail}".rstrip(": "), secrets)
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        return InvalidCredentialsError(message, "invalidCredentials")
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        return NoSuchObjectError(message, "noSuchObject")
    if isinstance(exc, _CONSTRAINT):
        return ConstraintViolationError(message, str(description))
    if isinstance(exc, lx.LDAPCertificateError | ssl.SSLError):
        return CertificateValidationError(message, "CertificateValidation")
    if isinstance(exc, lx.LDAPStartTLSError):
        return CertificateValidationError(message, "StartTLS")
    if isinstance(exc, _TRANSIENT):
        return LdapTransientError(message, str(description))
    if isinstance(exc, lx.LDAPSocketOpenError | lx.LDAPCommunicationError | OSError):
        return LdapTransientError(message, "ServerUnavailable")
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        return LdapTerminalError(message, "insufficientAccessRights")
    error_type = str(description) if result is not None else type(exc).__name__
    return LdapTerminalError(message, error_type)


# --- escaping ---------------------------------------------------------------------------------------


def escape_filter_value(value: str | bytes) -> str:
    """Escape a value taken from data before it goes into a search filter (RFC 4515)."""
    if isinstance(value, bytes):
        return "".join(f"\\{b:02x}" for b in value)
    return str(escape_filter_chars(value))


def escape_rdn_value(value: str) -> str:
    """Escape a value taken from data before it becomes an RDN value (RFC 4514)."""
    return str(escape_rdn(value))


def guid_dn(guid_le: bytes) -> str:
    """The ``<GUID=...>`` form AD accepts wherever a DN is expected; immune to renames and moves."""
    import uuid

    return f"<GUID={uuid.UUID(bytes_le=guid_le)}>"


# --- the client -------------------------------------------------------------------------------------


def values_of(entry: RawEntry, attribute: str) -> list[bytes]:
    """The raw values of ``attribute`` in an entry, whatever casing the server used for its name."""
    raw = entry["raw_attributes"]
    found = raw.get(attribute)
    if found is None:
        lower = attribute.lower()
        found = next((v for k, v in raw.items() if k.lower() == lower), None)
    return list(found or [])


def _decode_entries_raw_only(conn: ldap3.Connection) -> None:
    """Make this connection decode search entries into ``dn`` and ``raw_attributes`` only.

    Waiver (house rule 5, the choke point may adapt the library): ldap3 builds two dicts per entry,
    the raw values and a formatted copy (every value through ``to_unicode`` and a schema lookup). The
    connector types values itself, in Polars, so the copy is pure cost: about 30% of ldap3's time per
    entry (profile of bench/ad_import.py). Only this connection's strategy object is changed; other
    responses and entries that carry controls go through ldap3's own decoder.
    """
    strategy = conn.strategy
    original = strategy.decode_response_fast

    def decode(message: dict[str, Any]) -> dict[str, Any]:
        if message["protocolOp"] != 4 or message["controls"]:
            return original(message)  # type: ignore[no-any-return]
        payload = message["payload"]
        return {
            "type": "searchResEntry",
            "dn": bytes(payload[0][3]).decode("utf-8"),
            "raw_attributes": {
                bytes(a[3][0][3]).decode("utf-8"): [bytes(v[3]) for v in a[3][1][3]] for a in payload[1][3]
            },
        }

    strategy.decode_response_fast = decode


@dataclass(frozen=True)
class LdapEndpoint:
    host: str
    port: int | None = None  # default: 636 for ldaps, 389 otherwise
    tls: TlsMode = "ldaps"
    ca_file: str | None = None  # None: the system trust store
    tls_server_name: str | None = None  # extra name the certificate may carry (when reached by IP)
    validate_certificate: bool = True
    allow_insecure: bool = False
    bind_dn: str = ""
    connect_timeout: int = 10
    receive_timeout: int = 120

    @property
    def effective_port(self) -> int:
        return self.port or (636 if self.tls == "ldaps" else 389)


@dataclass
class PageResult:
    entries: list[RawEntry]
    cookie: bytes
    more: bool = field(default=False)


class LdapClient:
    """One bound connection to one directory server, with every call mapped to our errors."""

    def __init__(self, endpoint: LdapEndpoint, password: str) -> None:
        self.endpoint = endpoint
        self._password = password
        self._conn: ldap3.Connection | None = None

    def __repr__(self) -> str:  # never the password
        ep = self.endpoint
        return f"LdapClient({ep.host}:{ep.effective_port}, tls={ep.tls}, bind_dn={ep.bind_dn!r})"

    # connection ------------------------------------------------------------------------------------

    def _tls(self) -> ldap3.Tls:
        ep = self.endpoint
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED if ep.validate_certificate else ssl.CERT_NONE,
            ca_certs_file=ep.ca_file,
            valid_names=[ep.tls_server_name] if ep.tls_server_name else None,
        )

    def connect(self) -> ldap3.Connection:
        if self._conn is not None and self._conn.bound:
            return self._conn
        ep = self.endpoint
        if ep.tls == "none" and not ep.allow_insecure:
            raise InsecureBindRefusedError(
                f"refusing to bind to {ep.host}:{ep.effective_port} without TLS; use tls: ldaps or "
                "starttls, or set allow_insecure: true",
                "InsecureBindRefused",
            )
        tls = self._tls() if ep.tls != "none" else None
        try:
            server = ldap3.Server(
                ep.host,
                port=ep.effective_port,
                use_ssl=ep.tls == "ldaps",
                tls=tls,
                get_info=ldap3.NONE,
                connect_timeout=ep.connect_timeout,
            )
            conn = ldap3.Connection(
                server,
                user=ep.bind_dn,
                password=self._password,
                authentication=ldap3.SIMPLE,
                auto_bind=ldap3.AUTO_BIND_NONE,
                raise_exceptions=True,
                auto_range=False,  # range retrieval is ours: explicit `member;range=` loops
                return_empty_attributes=False,
                receive_timeout=ep.receive_timeout,
                read_only=False,
            )
            _decode_entries_raw_only(conn)
            conn.open()
            if ep.tls == "starttls":
                conn.start_tls()
            conn.bind()
        except Exception as exc:
            raise self._map(exc, f"bind to {ep.host}:{ep.effective_port}") from None
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            # Closing a dead connection has nothing to report.
            with contextlib.suppress(Exception):
                self._conn.unbind()
            self._conn = None

    def __enter__(self) -> LdapClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _map(self, exc: Exception, context: str) -> Exception:
        return map_ldap_error(exc, secrets=[self._password], context=context)

    def _search(
        self,
        base: str,
        flt: str,
        attributes: Sequence[str],
        scope: str = ldap3.SUBTREE,
        controls: list[Any] | None = None,
        paged_size: int | None = None,
        paged_cookie: bytes | None = None,
    ) -> tuple[list[RawEntry], dict[str, Any]]:
        conn = self.connect()
        try:
            conn.search(
                base,
                flt,
                search_scope=scope,
                attributes=list(attributes),
                controls=controls,
                paged_size=paged_size,
                paged_cookie=paged_cookie,
            )
        except Exception as exc:
            raise self._map(exc, f"search {base}") from None
        entries = [e for e in conn.response if e.get("type") == "searchResEntry"]
        return entries, conn.result

    # reads -----------------------------------------------------------------------------------------

    def root_dse(self, attributes: Sequence[str]) -> RawEntry:
        entries, _ = self._search("", "(objectClass=*)", attributes, scope=ldap3.BASE)
        return entries[0] if entries else {"dn": "", "raw_attributes": {}}

    def read(self, dn: str, attributes: Sequence[str], show_deleted: bool = False) -> RawEntry | None:
        controls = [show_deleted_control(criticality=False)] if show_deleted else None
        try:
            entries, _ = self._search(dn, "(objectClass=*)", attributes, ldap3.BASE, controls)
        except NoSuchObjectError:
            return None
        return entries[0] if entries else None

    def paged_search(
        self,
        base: str,
        flt: str,
        attributes: Sequence[str],
        page_size: int,
        show_deleted: bool = False,
    ) -> Iterator[list[RawEntry]]:
        """Yield one page of entries at a time (simple paged results control)."""
        controls = [show_deleted_control(criticality=True)] if show_deleted else None
        cookie: bytes | None = None
        while True:
            entries, result = self._search(
                base, flt, attributes, controls=controls, paged_size=page_size, paged_cookie=cookie
            )
            yield entries
            cookie = result.get("controls", {}).get(OID_PAGED, {}).get("value", {}).get("cookie")
            if not cookie:
                return

    def dir_sync(
        self, base: str, flt: str, attributes: Sequence[str], cookie: bytes, max_length: int = 1 << 24
    ) -> Iterator[PageResult]:
        """Yield DirSync pages until the server has no more; each carries the cookie that follows it.

        Same control as ``conn.extend.microsoft.dir_sync`` (incremental values on, ancestors first),
        without its extended-DN control, so DNs come back plain.
        """
        while True:
            control = dir_sync_control(
                criticality=True,
                object_security=False,
                ancestors_first=True,
                public_data_only=False,
                incremental_values=True,
                max_length=max_length,
                cookie=cookie or None,
            )
            try:
                entries, result = self._search(base, flt, attributes, controls=[control])
            except NoSuchObjectError:
                raise
            except LdapTerminalError as exc:
                # Servers word a bad or expired cookie differently (Samba: unavailableCriticalExtension;
                # Windows: protocolError, unwillingToPerform or other): with a cookie, anything but a
                # missing right means "start again without it".
                if exc.error_type == "insufficientAccessRights" or not cookie:
                    raise DirSyncNotPermittedError(str(exc), "DirSyncNotPermitted") from None
                raise DirSyncCookieRejectedError(str(exc), "DirSyncCookieRejected") from None
            value = result.get("controls", {}).get(OID_DIRSYNC, {}).get("value")
            if value is None:
                raise LdapTerminalError(f"search {base}: no DirSync control in the response", "DirSync")
            cookie = value["cookie"]
            more = bool(value["more_results"])
            yield PageResult(entries, cookie, more)
            if not more:
                return

    # writes ----------------------------------------------------------------------------------------

    def add(self, dn: str, object_class: Sequence[str], attributes: dict[str, Any]) -> None:
        conn = self.connect()
        try:
            conn.add(dn, list(object_class), attributes)
        except Exception as exc:
            raise self._map(exc, f"add {dn}") from None

    def modify(self, dn: str, changes: dict[str, list[tuple[str, list[Any]]]]) -> None:
        conn = self.connect()
        try:
            conn.modify(dn, changes)
        except Exception as exc:
            raise self._map(exc, f"modify {dn}") from None

    def modify_dn(self, dn: str, relative_dn: str, new_superior: str | None = None) -> None:
        conn = self.connect()
        try:
            conn.modify_dn(dn, relative_dn, new_superior=new_superior)
        except Exception as exc:
            raise self._map(exc, f"rename {dn}") from None

    def delete(self, dn: str, tree: bool = False) -> None:
        conn = self.connect()
        controls = [(OID_TREE_DELETE, True, None)] if tree else None
        try:
            conn.delete(dn, controls=controls)
        except Exception as exc:
            raise self._map(exc, f"delete {dn}") from None
