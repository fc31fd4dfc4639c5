"""``forestsync emulator``: run the Graph-compatible emulated tenant on loopback.

The main CLI mounts :data:`emulator_app`; ``python -m flows.cli_emulator serve`` runs it standalone.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

emulator_app = typer.Typer(
    help="The Graph-compatible emulated tenant (demo, tests, benchmarks).", no_args_is_help=True
)


@emulator_app.callback()
def _group() -> None:
    """The Graph-compatible emulated tenant."""


@emulator_app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any free port).")] = 8443,
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    state: Annotated[
        Path | None, typer.Option(help="JSON file the tenant is saved to and reloaded from.")
    ] = None,
    throttle_writes: Annotated[
        int, typer.Option(help="Writes allowed per app and tenant in a window.")
    ] = 3000,
    throttle_window: Annotated[float, typer.Option(help="Throttling window in seconds.")] = 150.0,
    no_throttle: Annotated[bool, typer.Option("--no-throttle", help="Disable write throttling.")] = False,
    fault_rate: Annotated[
        float, typer.Option(help="Share of requests failing, split over 429/503/timeout/drop.")
    ] = 0.0,
    fault_429: Annotated[float, typer.Option(help="Share of requests answered 429.")] = 0.0,
    fault_503: Annotated[float, typer.Option(help="Share of requests answered 503.")] = 0.0,
    fault_timeout: Annotated[
        float, typer.Option(help="Share of responses held past the client's timeout.")
    ] = 0.0,
    fault_drop: Annotated[float, typer.Option(help="Share of connections dropped after processing.")] = 0.0,
    fault_delay: Annotated[float, typer.Option(help="Seconds a 'timeout' response is held.")] = 5.0,
    seed: Annotated[int | None, typer.Option(help="Seed for fault injection and placeholder UPNs.")] = None,
    quarantine_recheck: Annotated[
        float, typer.Option(help="Seconds between re-checks that give back quarantined duplicate values.")
    ] = 3600.0,
) -> None:
    """Serve the emulated tenant until interrupted; print how to reach it."""
    from emulator.graph import FaultConfig, ThrottleConfig, start  # not at import: keeps the CLI fast

    if fault_rate:
        faults = FaultConfig.uniform(fault_rate, timeout_delay_s=fault_delay, seed=seed)
    else:
        faults = FaultConfig(
            rate_429=fault_429,
            rate_503=fault_503,
            rate_timeout=fault_timeout,
            rate_drop=fault_drop,
            timeout_delay_s=fault_delay,
            seed=seed,
        )
    throttle = ThrottleConfig(writes=throttle_writes, window_s=throttle_window, enabled=not no_throttle)
    try:
        emu = start(
            host=host,
            port=port,
            state_file=state,
            throttle=throttle,
            faults=faults,
            seed=seed,
            quarantine_recheck_s=quarantine_recheck,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    info = emu.info()
    typer.echo(f"Graph base URL : {info['base_url']}")
    typer.echo(f"Authority      : {info['authority']}")
    typer.echo(f"Tenant id      : {info['tenant_id']}")
    typer.echo(f"Client id      : {info['client_id']}")
    # A local test credential of the emulator's own demo app, printed on purpose.
    typer.echo(f"Client secret  : {info['client_secret']}")
    typer.echo(f"CA certificate : {info['ca_cert_path']}")
    typer.echo(f"Extension app  : {info['extension_app_id']} (extension_app_id of the aad connector)")
    typer.echo(json.dumps(info), err=False)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    emu.stop()


if __name__ == "__main__":
    emulator_app()
