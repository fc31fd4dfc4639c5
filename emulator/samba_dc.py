"""A Samba AD DC on loopback for tests, benchmarks and the demo (driven by scripts/samba-dc.sh).

:func:`ensure_samba_dc` reuses a DC that already listens on 127.0.0.1:636 (credentials read from its
folder, ``.samba/`` in the repository by default) or installs, provisions and starts one there;
:func:`stop_samba_dc` stops a DC it started, by the PID in its own PID file. The Administrator password
never leaves ``<dir>/admin-password`` (mode 600) except through the environment variable
``FORESTSYNC_TEST_AD_PASSWORD``, so connector settings refer to it as ``env:FORESTSYNC_TEST_AD_PASSWORD``.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "samba-dc.sh"
PASSWORD_ENV = "FORESTSYNC_TEST_AD_PASSWORD"
BASE_DN = "DC=corp,DC=example,DC=com"


@dataclass(frozen=True)
class SambaDC:
    """Where the test DC listens and how to bind to it (the password itself stays in the environment)."""

    directory: Path
    host: str = "127.0.0.1"
    ldaps_port: int = 636
    ldap_port: int = 389
    realm: str = "CORP.EXAMPLE.COM"
    domain: str = "CORP"
    base_dn: str = BASE_DN
    bind_dn: str = f"CN=Administrator,CN=Users,{BASE_DN}"
    password_ref: str = f"env:{PASSWORD_ENV}"
    # Samba's self-signed certificate names the DC, not the loopback address it is reached on.
    tls_server_name: str = "DC1.corp.example.com"
    started_here: bool = False

    @property
    def ca_file(self) -> Path:
        return self.directory / "private" / "tls" / "ca.pem"

    @property
    def password_file(self) -> Path:
        return self.directory / "admin-password"

    def password(self) -> str:
        return os.environ[PASSWORD_ENV]


def samba_dir() -> Path:
    return Path(os.environ.get("FORESTSYNC_SAMBA_DIR", REPO / ".samba")).resolve()


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _script(*args: str) -> None:
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/samba-dc.sh {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def ensure_samba_dc(directory: Path | None = None) -> SambaDC:
    """Reuse the DC on 127.0.0.1:636 or install, provision and start one in ``directory``.

    Used by the session fixture and by the benchmark. The caller stops a DC it started
    (``started_here``) with :func:`stop_samba_dc`.
    """
    directory = directory or samba_dir()
    started = False
    if not _listening(636):
        _script("install")
        _script("provision", str(directory))
        _script("start", str(directory))
        started = True
    if not (directory / "admin-password").is_file():
        raise RuntimeError(f"a DC listens on 127.0.0.1:636 but {directory}/admin-password is missing")
    os.environ[PASSWORD_ENV] = (directory / "admin-password").read_text().strip()
    return SambaDC(directory=directory, started_here=started)


def stop_samba_dc(dc: SambaDC) -> None:
    if dc.started_here:
        _script("stop", str(dc.directory))


def admin_connection(dc: SambaDC) -> Any:
    """A plain ldap3 connection (LDAPS, validation on) for test set-up and assertions."""
    import ldap3

    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file), valid_names=[dc.tls_server_name]
    )
    server = ldap3.Server(dc.host, port=dc.ldaps_port, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(server, dc.bind_dn, dc.password(), auto_bind=True, raise_exceptions=True)
