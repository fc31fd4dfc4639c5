"""What clients may write on each kind of directory object, as the Graph v1.0 reference states it.

A property missing from a table is not a declared property: writing it is refused. ``writable=False``
marks the properties Graph returns but refuses to set (for synchronized values this is what makes
Azure AD Connect's private sync API differ from public Graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Prop:
    type: str  # str | bool | int | strs | obj | objs
    max_len: int | None = None
    writable: bool = True


def _ro(type_: str) -> Prop:
    return Prop(type_, writable=False)


USER_PROPS: Final[dict[str, Prop]] = {
    "accountEnabled": Prop("bool"),
    "ageGroup": Prop("str", 32),
    "businessPhones": Prop("strs", 64),
    "city": Prop("str", 128),
    "companyName": Prop("str", 64),
    "consentProvidedForMinor": Prop("str", 32),
    "country": Prop("str", 128),
    "department": Prop("str", 64),
    "displayName": Prop("str", 256),
    "employeeHireDate": Prop("str", 64),
    "employeeId": Prop("str", 16),
    "employeeType": Prop("str", 64),
    "faxNumber": Prop("str", 64),
    "givenName": Prop("str", 64),
    "jobTitle": Prop("str", 128),
    "mail": Prop("str", 256),
    "mailNickname": Prop("str", 64),
    "mobilePhone": Prop("str", 64),
    "officeLocation": Prop("str", 128),
    "onPremisesExtensionAttributes": Prop("obj"),
    "onPremisesImmutableId": Prop("str", 256),
    "otherMails": Prop("strs", 256),
    "passwordPolicies": Prop("str", 256),
    "passwordProfile": Prop("obj"),
    "postalCode": Prop("str", 40),
    "preferredLanguage": Prop("str", 32),
    "showInAddressList": Prop("bool"),
    "state": Prop("str", 128),
    "streetAddress": Prop("str", 1024),
    "surname": Prop("str", 64),
    "usageLocation": Prop("str", 2),
    "userPrincipalName": Prop("str", 113),
    "userType": Prop("str", 32),
    # Returned, never writable through Graph.
    "createdDateTime": _ro("str"),
    "imAddresses": _ro("strs"),
    "proxyAddresses": _ro("strs"),
    "onPremisesDistinguishedName": _ro("str"),
    "onPremisesDomainName": _ro("str"),
    "onPremisesLastSyncDateTime": _ro("str"),
    "onPremisesProvisioningErrors": _ro("objs"),
    "onPremisesSamAccountName": _ro("str"),
    "onPremisesSecurityIdentifier": _ro("str"),
    "onPremisesSyncEnabled": _ro("bool"),
    "onPremisesUserPrincipalName": _ro("str"),
    "securityIdentifier": _ro("str"),
}

GROUP_PROPS: Final[dict[str, Prop]] = {
    "classification": Prop("str", 256),
    "description": Prop("str", 1024),
    "displayName": Prop("str", 256),
    "groupTypes": Prop("strs", 64),
    "isAssignableToRole": Prop("bool"),
    "mailEnabled": Prop("bool"),
    "mailNickname": Prop("str", 64),
    "membershipRule": Prop("str", 3072),
    "membershipRuleProcessingState": Prop("str", 32),
    "preferredDataLocation": Prop("str", 64),
    "securityEnabled": Prop("bool"),
    "visibility": Prop("str", 32),
    "createdDateTime": _ro("str"),
    "mail": _ro("str"),
    "proxyAddresses": _ro("strs"),
    "onPremisesDomainName": _ro("str"),
    "onPremisesLastSyncDateTime": _ro("str"),
    "onPremisesNetBiosName": _ro("str"),
    "onPremisesProvisioningErrors": _ro("objs"),
    "onPremisesSamAccountName": _ro("str"),
    "onPremisesSecurityIdentifier": _ro("str"),
    "onPremisesSyncEnabled": _ro("bool"),
    "securityIdentifier": _ro("str"),
}

DEVICE_PROPS: Final[dict[str, Prop]] = {
    "accountEnabled": Prop("bool"),
    "alternativeSecurityIds": Prop("objs"),
    "deviceId": Prop("str", 64),
    "displayName": Prop("str", 256),
    "extensionAttributes": Prop("obj"),
    "operatingSystem": Prop("str", 64),
    "operatingSystemVersion": Prop("str", 64),
    "createdDateTime": _ro("str"),
    "trustType": _ro("str"),  # set by device registration; read-only for Graph clients
    "onPremisesLastSyncDateTime": _ro("str"),
    "onPremisesSecurityIdentifier": _ro("str"),
    "onPremisesSyncEnabled": _ro("bool"),
}

# Organizational contacts are read-only in Graph v1.0: every property is returned, none is writable.
CONTACT_PROPS: Final[dict[str, Prop]] = {
    name: _ro(t)
    for name, t in {
        "addresses": "objs",
        "companyName": "str",
        "department": "str",
        "displayName": "str",
        "givenName": "str",
        "jobTitle": "str",
        "mail": "str",
        "mailNickname": "str",
        "phones": "objs",
        "proxyAddresses": "strs",
        "surname": "str",
        "onPremisesLastSyncDateTime": "str",
        "onPremisesProvisioningErrors": "objs",
        "onPremisesSyncEnabled": "bool",
    }.items()
}

PROPS_BY_KIND: Final[dict[str, dict[str, Prop]]] = {
    "user": USER_PROPS,
    "group": GROUP_PROPS,
    "device": DEVICE_PROPS,
    "orgContact": CONTACT_PROPS,
}

REQUIRED_ON_CREATE: Final[dict[str, tuple[str, ...]]] = {
    "user": ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"),
    "group": ("displayName", "mailEnabled", "mailNickname", "securityEnabled"),
    "device": (
        "accountEnabled",
        "alternativeSecurityIds",
        "deviceId",
        "displayName",
        "operatingSystem",
        "operatingSystemVersion",
    ),
}

# Graph returns this set for a user when the request has no $select.
USER_DEFAULT_SELECT: Final = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)

ODATA_TYPE: Final[dict[str, str]] = {
    "user": "#microsoft.graph.user",
    "group": "#microsoft.graph.group",
    "device": "#microsoft.graph.device",
    "orgContact": "#microsoft.graph.orgContact",
}
RESOURCE_NAME: Final[dict[str, str]] = {
    "user": "User",
    "group": "Group",
    "device": "Device",
    "orgContact": "Contact",
}
EXTENSION_TARGET: Final[dict[str, str]] = {
    "user": "User",
    "group": "Group",
    "device": "Device",
    "orgContact": "Contact",
}

# Collections under /v1.0 and the kind of object each holds.
COLLECTIONS: Final[dict[str, str]] = {
    "users": "user",
    "groups": "group",
    "contacts": "orgContact",
    "devices": "device",
}
SOFT_DELETED_KINDS: Final = frozenset({"user", "group"})

ON_PREM_EXTENSION_KEYS: Final = frozenset(f"extensionAttribute{i}" for i in range(1, 16))
MAILNICKNAME_FORBIDDEN: Final = set('@()\\[]";:<>, ')
UPN_PREFIX_ALLOWED: Final = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.-_!#^~")
