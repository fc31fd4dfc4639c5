"""A Graph v1.0 compatible tenant on loopback: start it in-process with :func:`start`.

emu = start()                       # HTTPS on 127.0.0.1, a free port
emu.base_url                        # https://127.0.0.1:PORT/v1.0
emu.authority, emu.tenant_id, emu.client_id, emu.client_secret, emu.ca_cert_path
emu.stop()
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from emulator.graph.auth import CertificateSet, TokenIssuer, generate_certificates
from emulator.graph.faults import FaultConfig, FaultInjector
from emulator.graph.routes import GraphApi
from emulator.graph.server import EmulatorApp
from emulator.graph.store import Directory
from emulator.graph.throttle import ThrottleConfig, WriteThrottle

__all__ = ["FaultConfig", "RunningEmulator", "ThrottleConfig", "start"]

DEFAULT_INITIAL_DOMAIN = "forestsyncdemo.onmicrosoft.com"
DEFAULT_VERIFIED_DOMAINS = ("contoso.com", "fabrikam.com")
SAVE_INTERVAL_S = 2.0


@dataclass
class RunningEmulator:
    """A running emulator: where it listens, the demo app's credentials, and its state."""

    host: str
    port: int
    tenant_id: str
    client_id: str
    client_secret: str
    certificates: CertificateSet
    directory: Directory
    app: EmulatorApp
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _state_file: Path | None = None
    _saver: threading.Thread | None = field(default=None, repr=False)
    _stop_saver: threading.Event = field(default_factory=threading.Event, repr=False)
    _dirty: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def origin(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1.0"

    @property
    def authority(self) -> str:
        return self.origin

    @property
    def ca_cert_path(self) -> Path:
        return self.certificates.ca_cert

    @property
    def client_certificate_path(self) -> Path:
        return self.certificates.client_pem

    @property
    def application_object_id(self) -> str:
        for app in self.directory.applications.values():
            if app.app_id == self.client_id:
                return app.id
        raise LookupError(self.client_id)

    def info(self) -> dict[str, str]:
        return {
            "base_url": self.base_url,
            "authority": self.authority,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "ca_cert_path": str(self.ca_cert_path),
            "client_certificate_path": str(self.client_certificate_path),
            "application_object_id": self.application_object_id,
            # The demo app is also the tenant schema app: its appId is the connector's extension_app_id.
            "extension_app_id": self.client_id,
        }

    def save(self) -> None:
        if self._state_file is not None:
            self.directory.save(self._state_file)
            self._dirty.clear()

    def stop(self) -> None:
        self._stop_saver.set()
        if self._saver is not None:
            self._saver.join(timeout=10)
        # Idle keep-alive TLS connections of clients would hold a graceful shutdown for their timeout.
        self._server.force_exit = True
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.save()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _load_or_create(state_file: Path | None, seed: int | None) -> tuple[Directory, dict[str, Any]]:
    meta_file = state_file.with_suffix(state_file.suffix + ".app.json") if state_file else None
    if state_file is not None and meta_file is not None and state_file.exists() and meta_file.exists():
        return Directory.load(state_file), json.loads(meta_file.read_text(encoding="utf-8"))
    directory = Directory(
        tenant_id=str(uuid.uuid4()),
        initial_domain=DEFAULT_INITIAL_DOMAIN,
        verified_domains=DEFAULT_VERIFIED_DOMAINS,
        seed=seed,
    )
    meta = {"client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(30)}
    directory.add_application(meta["client_id"], "forestsync sync app")
    if meta_file is not None:
        meta_file.write_text(json.dumps(meta), encoding="utf-8")
        meta_file.chmod(0o600)
    return directory, meta


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    state_file: Path | str | None = None,
    cert_dir: Path | str | None = None,
    throttle: ThrottleConfig | None = None,
    faults: FaultConfig | None = None,
    seed: int | None = None,
    quarantine_recheck_s: float = 3600.0,
    startup_timeout_s: float = 20.0,
) -> RunningEmulator:
    """Start the emulator on ``host:port`` (0 = a free port) in a background thread.

    ``quarantine_recheck_s``: how often quarantined duplicate values are given back once their
    conflict has cleared (the service does it hourly).
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the emulator binds to loopback only")
    state = Path(state_file) if state_file is not None else None
    if cert_dir is None:
        cert_dir = (
            state.with_suffix(state.suffix + ".certs")
            if state is not None
            else Path(tempfile.mkdtemp(prefix="forestsync-graph-"))
        )
    certs = generate_certificates(Path(cert_dir), hosts=(host, "localhost", "127.0.0.1"))
    directory, meta = _load_or_create(state, seed)
    issuer = TokenIssuer(directory.tenant_id)
    issuer.register(meta["client_id"], meta["client_secret"], certs.client_pem)
    dirty = threading.Event()
    app = EmulatorApp(
        GraphApi(directory),
        issuer,
        WriteThrottle(throttle or ThrottleConfig()),
        FaultInjector(faults or FaultConfig()),
        on_write=dirty.set,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(certs.server_cert),
        ssl_keyfile=str(certs.server_key),
        log_level="critical",
        access_log=False,
        lifespan="off",
        http="h11",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="graph-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the Graph emulator did not start on {host}:{port}")
        time.sleep(0.02)
    bound_port = port or int(server.servers[0].sockets[0].getsockname()[1])
    running = RunningEmulator(
        host,
        bound_port,
        directory.tenant_id,
        meta["client_id"],
        meta["client_secret"],
        certs,
        directory,
        app,
        server,
        thread,
        state,
        _dirty=dirty,
    )
    last_recheck = time.monotonic()

    def housekeeping() -> None:
        nonlocal last_recheck
        while not running._stop_saver.wait(min(SAVE_INTERVAL_S, quarantine_recheck_s)):
            if time.monotonic() - last_recheck >= quarantine_recheck_s:
                last_recheck = time.monotonic()
                with directory.lock:
                    if directory.reapply_quarantined():
                        dirty.set()
            if state is not None and dirty.is_set():
                dirty.clear()
                directory.save(state)

    running._saver = threading.Thread(target=housekeeping, name="graph-emulator-housekeeping", daemon=True)
    running._saver.start()
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    return running
