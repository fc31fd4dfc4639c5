"""Secrets by reference only: ``env:NAME`` or ``prefect-secret:NAME``.

The configuration never holds a secret value. A reference is resolved at the moment a connector binds,
and the value travels in a :class:`Secret` whose ``repr`` and ``str`` do not show it, so a secret that
reaches a log line, an error or an artifact by accident still shows as ``Secret(env:NAME)``.
"""

from __future__ import annotations

import os
import re
from typing import Final

from flows.errors import SecretError

REFERENCE: Final = re.compile(r"^(env|prefect-secret):([A-Za-z0-9_.\-]+)$")


def is_reference(text: str) -> bool:
    return REFERENCE.match(text) is not None


class Secret:
    """A resolved secret value that never renders itself."""

    __slots__ = ("_value", "reference")

    def __init__(self, reference: str, value: str) -> None:
        self.reference = reference
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference})"

    __str__ = __repr__


def resolve_secret(reference: str) -> Secret:
    """Resolve a secret reference; errors name the reference and never a value."""
    match = REFERENCE.match(reference)
    if match is None:
        raise SecretError(
            f"not a secret reference: expected 'env:NAME' or 'prefect-secret:NAME' (got a value of {len(reference)} characters)"
        )
    scheme, name = match.groups()
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise SecretError(f"secret {reference}: environment variable {name} is not set")
        return Secret(reference, value)
    try:
        from prefect.blocks.system import Secret as PrefectSecret

        block = PrefectSecret.load(name)
        return Secret(reference, str(block.get()))  # type: ignore[union-attr]
    except Exception as exc:
        raise SecretError(
            f"secret {reference}: Prefect Secret block {name!r} could not be loaded ({type(exc).__name__})"
        ) from None
