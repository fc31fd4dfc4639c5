"""Pytest plugin: the real Active Directory the suite runs against (a Samba AD DC on loopback).

``samba_dc`` (session scope) reuses a DC that already listens on 127.0.0.1:636 (credentials read from
``.samba/``) or installs, provisions and starts one and stops it, by its PID, when the session ends
(see :mod:`emulator.samba_dc`). ``samba_ou`` gives one test a fresh OU, removed with its subtree.
Tests that need the DC carry ``@pytest.mark.samba``; ``-m "not samba"`` leaves them out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from emulator.samba_dc import REPO, SambaDC, admin_connection, ensure_samba_dc, stop_samba_dc

__all__ = ["REPO", "SambaDC", "admin_connection", "samba_dc", "samba_ou"]


@pytest.fixture(scope="session")
def samba_dc() -> Iterator[SambaDC]:
    """The Samba AD DC on loopback (started for the session unless one already runs)."""
    dc = ensure_samba_dc()
    try:
        yield dc
    finally:
        stop_samba_dc(dc)


@pytest.fixture
def samba_ou(samba_dc: SambaDC) -> Iterator[str]:
    """A fresh, empty OU under the domain head for one test; removed with its subtree afterwards."""
    conn = admin_connection(samba_dc)
    dn = f"OU=t-{uuid.uuid4().hex[:12]},{samba_dc.base_dn}"
    conn.add(dn, ["top", "organizationalUnit"])
    try:
        yield dn
    finally:
        # Tree delete control: removes the OU with everything a test put under it.
        try:
            conn.delete(dn, controls=[("1.2.840.113556.1.4.805", True, None)])
        finally:
            conn.unbind()
