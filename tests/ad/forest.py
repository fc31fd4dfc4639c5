"""Small literal forests for the AD tests: frames of the shape emulator.samba_loader takes."""

from __future__ import annotations

import polars as pl

USER = ["top", "person", "organizationalPerson", "user"]


def forest_frames(
    ou: str, users: int = 200, groups: int = 10, contacts: int = 20, computers: int = 20
) -> list[pl.DataFrame]:
    """OUs Sales, Sales/EMEA, IT and Excluded under ``ou``, with users, groups, contacts, computers."""
    tag = ou.split(",", 1)[0].split("=", 1)[1]
    ous = [f"OU=Sales,{ou}", f"OU=EMEA,OU=Sales,{ou}", f"OU=IT,{ou}", f"OU=Excluded,{ou}"]
    ou_frame = pl.DataFrame({"dn": ous, "objectClass": [["top", "organizationalUnit"]] * len(ous)})
    homes = [ous[i % len(ous)] for i in range(users)]
    user_frame = pl.DataFrame(
        {
            "dn": [f"CN=user{i:04d},{homes[i]}" for i in range(users)],
            "objectClass": [USER] * users,
            "sAMAccountName": [f"{tag[:8]}u{i:04d}" for i in range(users)],
            "userPrincipalName": [f"user{i:04d}.{tag}@corp.example.com" for i in range(users)],
            "givenName": [f"Given{i}" for i in range(users)],
            "sn": [f"Sur{i}" for i in range(users)],
            "displayName": [f"User {i:04d}" for i in range(users)],
            "department": [["Sales", "IT", "Ops"][i % 3] for i in range(users)],
            "proxyAddresses": [
                [f"SMTP:user{i:04d}.{tag}@corp.example.com", f"smtp:u{i}.{tag}@corp.example.com"]
                for i in range(users)
            ],
        }
    )
    group_frame = pl.DataFrame(
        {
            "dn": [f"CN=group{g:02d},OU=IT,{ou}" for g in range(groups)],
            "objectClass": [["top", "group"]] * groups,
            "sAMAccountName": [f"{tag[:8]}g{g:02d}" for g in range(groups)],
            "member": [
                [f"CN=user{i:04d},{homes[i]}" for i in range(g, users, groups)] for g in range(groups)
            ],
        }
    )
    contact_frame = pl.DataFrame(
        {
            "dn": [f"CN=contact{i:03d},OU=Sales,{ou}" for i in range(contacts)],
            "objectClass": [["top", "person", "organizationalPerson", "contact"]] * contacts,
            "mail": [f"contact{i}@partner.example.org" for i in range(contacts)],
            "displayName": [f"Contact {i}" for i in range(contacts)],
        }
    )
    computer_frame = pl.DataFrame(
        {
            "dn": [f"CN=PC{i:03d},OU=IT,{ou}" for i in range(computers)],
            "objectClass": [[*USER, "computer"]] * computers,
            "sAMAccountName": [f"{tag[:8]}pc{i:03d}$" for i in range(computers)],
            "operatingSystem": ["Windows 11 Enterprise"] * computers,
        }
    )
    return [ou_frame, user_frame, group_frame, contact_frame, computer_frame]
