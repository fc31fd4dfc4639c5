"""The ldap3 choke point: TLS policy, error mapping to the forestsync tree, escaping, redaction."""

from __future__ import annotations

import pytest
from ldap3.core import exceptions as lx

from flows.connectors.ldap_client import (
    CertificateValidationError,
    ConstraintViolationError,
    InsecureBindRefusedError,
    InvalidCredentialsError,
    LdapClient,
    LdapEndpoint,
    LdapTransientError,
    NoSuchObjectError,
    escape_filter_value,
    escape_rdn_value,
    guid_dn,
    map_ldap_error,
)
from transforms.errors import ForestsyncError, TerminalError, TransientError


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bind_without_tls_is_refused_before_connecting() -> None:
    """tls: none without allow_insecure never opens a socket: the refusal is the error, not a timeout."""
    client = LdapClient(LdapEndpoint(host="127.0.0.1", port=_closed_port(), tls="none", bind_dn="cn=x"), "pw")
    with pytest.raises(InsecureBindRefusedError, match="allow_insecure"):
        client.connect()


def test_allow_insecure_lets_the_bind_try() -> None:
    """With allow_insecure the client does connect (here to a closed port: a transient error)."""
    ep = LdapEndpoint(
        host="127.0.0.1", port=_closed_port(), tls="none", allow_insecure=True, connect_timeout=2
    )
    with pytest.raises(LdapTransientError):
        LdapClient(ep, "pw").connect()


@pytest.mark.parametrize(
    ("exc", "expected", "transient"),
    [
        (
            lx.LDAPInvalidCredentialsResult(result=49, description="invalidCredentials"),
            InvalidCredentialsError,
            False,
        ),
        (lx.LDAPNoSuchObjectResult(result=32, description="noSuchObject"), NoSuchObjectError, False),
        (
            lx.LDAPConstraintViolationResult(result=19, description="constraintViolation"),
            ConstraintViolationError,
            False,
        ),
        (
            lx.LDAPEntryAlreadyExistsResult(result=68, description="entryAlreadyExists"),
            ConstraintViolationError,
            False,
        ),
        (lx.LDAPBusyResult(result=51, description="busy"), LdapTransientError, True),
        (lx.LDAPUnavailableResult(result=52, description="unavailable"), LdapTransientError, True),
        (lx.LDAPTimeLimitExceededResult(result=3, description="timeLimitExceeded"), LdapTransientError, True),
        (lx.LDAPSocketOpenError("connection refused"), LdapTransientError, True),
        (lx.LDAPResponseTimeoutError("no response"), LdapTransientError, True),
        (lx.LDAPCertificateError("certificate verify failed"), CertificateValidationError, False),
    ],
)
def test_ldap3_errors_map_to_transient_or_terminal(exc: Exception, expected: type, transient: bool) -> None:
    """Every ldap3 error becomes a ForestsyncError that says whether a retry can help."""
    mapped = map_ldap_error(exc)
    assert isinstance(mapped, expected)
    assert isinstance(mapped, ForestsyncError)
    assert isinstance(mapped, TransientError if transient else TerminalError)
    assert mapped.transient is transient  # type: ignore[attr-defined]


def test_mapped_messages_never_carry_the_password() -> None:
    """A server message that echoes the secret is redacted before it becomes our error."""
    exc = lx.LDAPInvalidCredentialsResult(result=49, description="invalidCredentials", message="bad s3cr3t!")
    mapped = map_ldap_error(exc, secrets=["s3cr3t!"], context="bind")
    assert "s3cr3t!" not in str(mapped)
    assert "***" in str(mapped)


def test_client_repr_hides_the_password() -> None:
    client = LdapClient(LdapEndpoint(host="dc1", bind_dn="cn=admin"), "hunter2")
    assert "hunter2" not in repr(client)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ("a*b", "a\\2ab"),
        ("(x)", "\\28x\\29"),
        ("back\\slash", "back\\5cslash"),
        ("nul\x00", "nul\\00"),
        (b"\x01\xff", "\\01\\ff"),
    ],
)
def test_filter_values_are_escaped(value: str | bytes, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


def test_rdn_values_are_escaped() -> None:
    assert escape_rdn_value("Smith, John") == "Smith\\, John"


def test_guid_dn_uses_dotnet_byte_order() -> None:
    """objectGUID bytes are little-endian in the first three fields, as .NET's Guid(byte[])."""
    raw = bytes.fromhex("33221100554477668899aabbccddeeff")
    assert guid_dn(raw) == "<GUID=00112233-4455-6677-8899-aabbccddeeff>"


def test_values_of_ignores_the_casing_the_server_used() -> None:
    from flows.connectors.ldap_client import values_of

    entry = {"dn": "CN=x", "raw_attributes": {"objectguid": [b"\x01"], "cn": [b"x"]}}
    assert values_of(entry, "objectGUID") == [b"\x01"]
    assert values_of(entry, "cn") == [b"x"]
    assert values_of(entry, "missing") == []


class _RefusingDirectory(LdapClient):
    """A client whose every search is refused with a given LDAP result (no network)."""

    def __init__(self, error_type: str) -> None:
        super().__init__(LdapEndpoint(host="dc.invalid"), "pw")
        self.error_type = error_type

    def _search(self, *args: object, **kwargs: object) -> tuple[list[dict[str, object]], dict[str, object]]:
        from flows.connectors.ldap_client import LdapTerminalError

        raise LdapTerminalError(f"search: {self.error_type}", self.error_type)


@pytest.mark.parametrize(
    "error_type", ["unavailableCriticalExtension", "protocolError", "unwillingToPerform", "other"]
)
def test_a_refused_dirsync_with_a_cookie_means_the_cookie_is_bad(error_type: str) -> None:
    from flows.connectors.ldap_client import DirSyncCookieRejectedError

    with pytest.raises(DirSyncCookieRejectedError):
        list(
            _RefusingDirectory(error_type).dir_sync("DC=x", "(objectClass=*)", ["objectGUID"], b"old-cookie")
        )


@pytest.mark.parametrize(
    ("error_type", "cookie"), [("insufficientAccessRights", b"c"), ("unwillingToPerform", b"")]
)
def test_a_refused_dirsync_without_the_right_means_not_permitted(error_type: str, cookie: bytes) -> None:
    from flows.connectors.ldap_client import DirSyncNotPermittedError

    with pytest.raises(DirSyncNotPermittedError):
        list(_RefusingDirectory(error_type).dir_sync("DC=x", "(objectClass=*)", ["objectGUID"], cookie))
