"""Connectors: the one protocol every connected directory speaks (AD over LDAP, Entra ID over Graph, LDIF)."""
