"""The test domain controller the suite starts answers LDAPS with a certificate we validate."""

from __future__ import annotations

import ssl

import ldap3
import pytest

from tests.samba_fixture import SambaDC, admin_connection


@pytest.mark.samba
def test_rootdse_over_validated_ldaps(samba_dc: SambaDC) -> None:
    """A simple bind over LDAPS, validated against the DC's own CA, reads the domain naming context."""
    conn = admin_connection(samba_dc)
    assert conn.server.ssl and conn.server.tls.validate == ssl.CERT_REQUIRED
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["defaultNamingContext"])
    assert conn.entries[0].defaultNamingContext.value == "DC=corp,DC=example,DC=com"


@pytest.mark.samba
def test_untrusted_certificate_is_refused(samba_dc: SambaDC) -> None:
    """Validation is really on: the system trust store does not know the DC's self-signed CA."""
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, valid_names=[samba_dc.tls_server_name])
    server = ldap3.Server(samba_dc.host, port=samba_dc.ldaps_port, use_ssl=True, tls=tls)
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError):
        ldap3.Connection(server, samba_dc.bind_dn, samba_dc.password(), auto_bind=True)


@pytest.mark.samba
def test_password_file_is_private(samba_dc: SambaDC) -> None:
    """The generated Administrator password is readable by its owner only."""
    assert samba_dc.password_file.stat().st_mode & 0o777 == 0o600
