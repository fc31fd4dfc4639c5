"""Suite-wide set-up: the Samba AD DC fixture, and reproducible property tests in CI."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.samba_fixture"]

# In CI (CI=true) every property test draws the same examples each run, so a submission's result does not
# depend on luck; developers' runs keep exploring new examples.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Stop Prefect's ephemeral API server while pytest's streams are still open.

    Left to Prefect's ``atexit`` hook, the server logs "Stopping temporary server" to a stream pytest has
    already closed, and Python prints a logging traceback after the summary (Prefect's own test fixtures
    stop it the same way).
    """
    import sys

    if "prefect.server.api.server" in sys.modules:
        from prefect.server.api.server import SubprocessASGIServer

        SubprocessASGIServer().stop()
