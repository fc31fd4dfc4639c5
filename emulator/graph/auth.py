"""OAuth2 client-credentials token endpoint and the certificates the emulator needs.

azure-identity refuses plain-http authorities, so the emulator serves HTTPS with a certificate issued
by a CA it generates (the CA file is what clients pass as ``connection_verify``). The registered app
authenticates with a client secret or with a client certificate (a signed JWT client assertion, as
``CertificateCredential`` sends it). Tokens are opaque bearer strings held in memory.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TOKEN_LIFETIME_S = 3599
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class CertificateSet:
    """Files written by :func:`generate_certificates`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_pem: Path  # client certificate and its private key, for CertificateCredential


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def generate_certificates(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> CertificateSet:
    """A CA, a server certificate for ``hosts`` signed by it, and a self-signed client certificate.

    Existing files are reused so that a persisted demo tenant keeps the CA its clients trust.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = CertificateSet(
        directory / "ca.pem", directory / "server.pem", directory / "server-key.pem", directory / "client.pem"
    )
    if all(p.exists() for p in (files.ca_cert, files.server_cert, files.server_key, files.client_pem)):
        return files
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=3650)
    ca_key = _key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("forestsync Graph emulator CA"))
        .issuer_name(_name("forestsync Graph emulator CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = _key()
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    client_key = _key()
    client_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("forestsync emulator client"))
        .issuer_name(_name("forestsync emulator client"))
        .public_key(client_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(client_key, hashes.SHA256())
    )
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(_pem_key(server_key))
    files.server_key.chmod(0o600)
    files.client_pem.write_bytes(_pem_key(client_key) + client_cert.public_bytes(serialization.Encoding.PEM))
    files.client_pem.chmod(0o600)
    return files


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description, "error_codes": [7000215]}


@dataclass
class AppRegistration:
    client_id: str
    client_secret: str
    certificate: x509.Certificate | None = None


@dataclass
class TokenIssuer:
    """Issues and checks bearer tokens for the registered apps of one tenant."""

    tenant_id: str
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    def register(self, client_id: str, client_secret: str, client_pem: Path | None = None) -> None:
        cert = x509.load_pem_x509_certificate(client_pem.read_bytes()) if client_pem is not None else None
        self.apps[client_id] = AppRegistration(client_id, client_secret, cert)

    def openid_configuration(self, base_url: str, tenant: str) -> dict[str, Any]:
        root = f"{base_url}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "issuer": f"{base_url}/{self.tenant_id}/v2.0",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "response_types_supported": ["code", "id_token", "token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "EU",
        }

    def issue(self, tenant: str, form: dict[str, str], token_url: str) -> dict[str, Any]:
        if tenant not in (self.tenant_id, "organizations", "common"):
            raise OAuthError(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(
                400, "unsupported_grant_type", "AADSTS70003: Only client_credentials is supported."
            )
        client_id = form.get("client_id", "")
        app = self.apps.get(client_id)
        if app is None:
            raise OAuthError(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found.",
            )
        if "client_secret" in form:
            if not hmac.compare_digest(form["client_secret"], app.client_secret):
                raise OAuthError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        elif form.get("client_assertion_type") == ASSERTION_TYPE:
            self._check_assertion(app, form.get("client_assertion", ""), token_url)
        else:
            raise OAuthError(
                401, "invalid_client", "AADSTS7000218: The request body must contain client credentials."
            )
        token = "emu." + secrets.token_urlsafe(32)
        self._tokens[token] = (client_id, time.monotonic() + TOKEN_LIFETIME_S)
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "ext_expires_in": TOKEN_LIFETIME_S,
            "access_token": token,
        }

    def _check_assertion(self, app: AppRegistration, assertion: str, token_url: str) -> None:
        bad = OAuthError(401, "invalid_client", "AADSTS700027: Client assertion failed signature validation.")
        if app.certificate is None:
            raise bad
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(body_b64))
            signature = _b64url_decode(sig_b64)
        except ValueError:
            raise bad from None
        public_key = app.certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise bad
        signed = f"{head_b64}.{body_b64}".encode()
        alg = header.get("alg")
        pad: padding.AsymmetricPadding
        if alg == "RS256":
            pad = padding.PKCS1v15()
        elif alg == "PS256":
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        else:
            raise bad
        try:
            public_key.verify(signature, signed, pad, hashes.SHA256())
        except InvalidSignature:
            raise bad from None
        thumb_sha1 = (
            base64.urlsafe_b64encode(app.certificate.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
        )
        thumb_sha256 = (
            base64.urlsafe_b64encode(app.certificate.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
        )
        x5t = str(header.get("x5t", thumb_sha1)).rstrip("=")
        x5t_s256 = str(header.get("x5t#S256", thumb_sha256)).rstrip("=")
        if x5t != thumb_sha1 or x5t_s256 != thumb_sha256:
            raise bad
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise bad
        if float(claims.get("exp", 0)) < time.time():
            raise OAuthError(
                401, "invalid_client", "AADSTS700024: Client assertion is not within its valid time range."
            )
        aud = claims.get("aud")
        if not isinstance(aud, str) or not aud.rstrip("/").endswith("/oauth2/v2.0/token"):
            raise bad

    def authenticate(self, authorization: str | None) -> str | None:
        """The client id a bearer header belongs to, or None when it is missing, unknown or expired."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        entry = self._tokens.get(authorization[7:].strip())
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
