"""How directory attributes are typed in connector-space frames.

LDAP transfers every value as octets; the frame conventions need to know which attributes are binary,
integer, boolean or multi-valued. This table is shared by the connectors that read Active Directory data
(LDAP and LDIF). Names are matched case-insensitively (LDAP attribute descriptions are) and the table's
casing is the schema casing the frames use. Anything not listed is a single-valued string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import polars as pl


class AttributeSyntax(StrEnum):
    STRING = "string"
    BINARY = "binary"
    INTEGER = "integer"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class AttributeType:
    name: str  # schema casing
    syntax: AttributeSyntax
    multi_valued: bool = False

    @property
    def dtype(self) -> pl.DataType:
        """The Polars dtype of this attribute's column in a connector-space frame."""
        scalar: pl.DataType = _SCALAR_DTYPES[self.syntax]
        return pl.List(scalar) if self.multi_valued else scalar


_SCALAR_DTYPES: Final[dict[AttributeSyntax, pl.DataType]] = {
    AttributeSyntax.STRING: pl.String(),
    AttributeSyntax.BINARY: pl.Binary(),
    AttributeSyntax.INTEGER: pl.Int64(),
    AttributeSyntax.BOOLEAN: pl.Boolean(),
}

_S, _B, _I, _BOOL = (
    AttributeSyntax.STRING,
    AttributeSyntax.BINARY,
    AttributeSyntax.INTEGER,
    AttributeSyntax.BOOLEAN,
)

_TYPES: Final[tuple[AttributeType, ...]] = (
    # binary (octet strings and SIDs)
    AttributeType("objectGUID", _B),
    AttributeType("objectSid", _B),
    AttributeType("mS-DS-ConsistencyGuid", _B),
    AttributeType("msExchMailboxGuid", _B),
    AttributeType("msExchArchiveGUID", _B),
    AttributeType("msExchMasterAccountSid", _B),
    AttributeType("msRTCSIP-OriginatorSid", _B),
    AttributeType("mS-DS-CreatorSID", _B),
    AttributeType("thumbnailPhoto", _B),
    AttributeType("jpegPhoto", _B, multi_valued=True),
    AttributeType("userCertificate", _B, multi_valued=True),
    AttributeType("userSMIMECertificate", _B, multi_valued=True),
    AttributeType("sIDHistory", _B, multi_valued=True),
    AttributeType("msExchBlockedSendersHash", _B),
    AttributeType("msExchSafeRecipientsHash", _B),
    AttributeType("msExchSafeSendersHash", _B),
    AttributeType("msDS-KeyCredentialLink", _S, multi_valued=True),  # DN-Binary syntax, kept as text
    # integers (INTEGER and LargeInteger syntaxes)
    AttributeType("userAccountControl", _I),
    AttributeType("groupType", _I),
    AttributeType("pwdLastSet", _I),
    AttributeType("accountExpires", _I),
    AttributeType("lastLogonTimestamp", _I),
    AttributeType("primaryGroupID", _I),
    AttributeType("sAMAccountType", _I),
    AttributeType("uSNChanged", _I),
    AttributeType("uSNCreated", _I),
    AttributeType("msExchRecipientTypeDetails", _I),
    AttributeType("msExchRecipientDisplayType", _I),
    AttributeType("msExchRemoteRecipientType", _I),
    AttributeType("msExchModerationFlags", _I),
    AttributeType("msExchELCMailboxFlags", _I),
    AttributeType("msDS-HABSeniorityIndex", _I),
    AttributeType("msRTCSIP-OptionFlags", _I),
    AttributeType("msDS-SupportedEncryptionTypes", _I),
    AttributeType("instanceType", _I),
    # booleans
    AttributeType("isCriticalSystemObject", _BOOL),
    AttributeType("msExchHideFromAddressLists", _BOOL),
    AttributeType("msRTCSIP-UserEnabled", _BOOL),
    AttributeType("msExchEnableModeration", _BOOL),
    AttributeType("msExchMailboxAuditEnable", _BOOL),
    AttributeType("msExchBypassAudit", _BOOL),
    AttributeType("showInAdvancedViewOnly", _BOOL),
    AttributeType("isDeleted", _BOOL),
    AttributeType("hideDLMembership", _BOOL),
    # multi-valued strings (DN references included: they stay DNs in the connector space)
    AttributeType("objectClass", _S, multi_valued=True),
    AttributeType("proxyAddresses", _S, multi_valued=True),
    AttributeType("member", _S, multi_valued=True),
    AttributeType("memberOf", _S, multi_valued=True),
    AttributeType("directReports", _S, multi_valued=True),
    AttributeType("otherTelephone", _S, multi_valued=True),
    AttributeType("otherMobile", _S, multi_valued=True),
    AttributeType("otherHomePhone", _S, multi_valued=True),
    AttributeType("otherFacsimileTelephoneNumber", _S, multi_valued=True),
    AttributeType("otherIpPhone", _S, multi_valued=True),
    AttributeType("otherPager", _S, multi_valued=True),
    AttributeType("servicePrincipalName", _S, multi_valued=True),
    AttributeType("url", _S, multi_valued=True),
    AttributeType("postOfficeBox", _S, multi_valued=True),
    AttributeType("authOrig", _S, multi_valued=True),
    AttributeType("unauthOrig", _S, multi_valued=True),
    AttributeType("dLMemRejectPerms", _S, multi_valued=True),
    AttributeType("dLMemSubmitPerms", _S, multi_valued=True),
    AttributeType("publicDelegates", _S, multi_valued=True),
    AttributeType("msExchCoManagedByLink", _S, multi_valued=True),
    AttributeType("msExchModeratedByLink", _S, multi_valued=True),
    AttributeType("msExchBypassModerationLink", _S, multi_valued=True),
    AttributeType("msExchDelegateListLink", _S, multi_valued=True),
    AttributeType("msExchSenderHintTranslations", _S, multi_valued=True),
    AttributeType("msExchUserHoldPolicies", _S, multi_valued=True),
    AttributeType("msExchPoliciesExcluded", _S, multi_valued=True),
    AttributeType("description", _S, multi_valued=True),
    # single-valued strings listed for their schema casing
    AttributeType("cn", _S),
    AttributeType("name", _S),
    AttributeType("distinguishedName", _S),
    AttributeType("sAMAccountName", _S),
    AttributeType("userPrincipalName", _S),
    AttributeType("givenName", _S),
    AttributeType("sn", _S),
    AttributeType("initials", _S),
    AttributeType("displayName", _S),
    AttributeType("mail", _S),
    AttributeType("mailNickname", _S),
    AttributeType("department", _S),
    AttributeType("title", _S),
    AttributeType("company", _S),
    AttributeType("manager", _S),
    AttributeType("managedBy", _S),
    AttributeType("employeeID", _S),
    AttributeType("employeeNumber", _S),
    AttributeType("employeeType", _S),
    AttributeType("telephoneNumber", _S),
    AttributeType("mobile", _S),
    AttributeType("homePhone", _S),
    AttributeType("facsimileTelephoneNumber", _S),
    AttributeType("pager", _S),
    AttributeType("ipPhone", _S),
    AttributeType("physicalDeliveryOfficeName", _S),
    AttributeType("streetAddress", _S),
    AttributeType("l", _S),
    AttributeType("st", _S),
    AttributeType("c", _S),
    AttributeType("co", _S),
    AttributeType("postalCode", _S),
    AttributeType("info", _S),
    AttributeType("wWWHomePage", _S),
    AttributeType("targetAddress", _S),
    AttributeType("legacyExchangeDN", _S),
    AttributeType("msExchImmutableId", _S),
    AttributeType("adminDescription", _S),
    AttributeType("preferredLanguage", _S),
    AttributeType("middleName", _S),
    AttributeType("ou", _S),
    AttributeType("dNSHostName", _S),
    AttributeType("operatingSystem", _S),
    AttributeType("operatingSystemVersion", _S),
    AttributeType("msDS-ExternalDirectoryObjectId", _S),
    AttributeType("msRTCSIP-PrimaryUserAddress", _S),
    AttributeType("msRTCSIP-Line", _S),
    AttributeType("msRTCSIP-DeploymentLocator", _S),
    AttributeType("whenCreated", _S),
    AttributeType("whenChanged", _S),
    AttributeType("objectCategory", _S),
    AttributeType("userWorkstations", _S),
    AttributeType("homeDirectory", _S),
    AttributeType("homeDrive", _S),
    AttributeType("scriptPath", _S),
    AttributeType("comment", _S),
    AttributeType("extensionAttribute1", _S),
    AttributeType("extensionAttribute2", _S),
    AttributeType("extensionAttribute3", _S),
    AttributeType("extensionAttribute4", _S),
    AttributeType("extensionAttribute5", _S),
    AttributeType("extensionAttribute6", _S),
    AttributeType("extensionAttribute7", _S),
    AttributeType("extensionAttribute8", _S),
    AttributeType("extensionAttribute9", _S),
    AttributeType("extensionAttribute10", _S),
    AttributeType("extensionAttribute11", _S),
    AttributeType("extensionAttribute12", _S),
    AttributeType("extensionAttribute13", _S),
    AttributeType("extensionAttribute14", _S),
    AttributeType("extensionAttribute15", _S),
)

ATTRIBUTE_TYPES: Final[dict[str, AttributeType]] = {t.name.lower(): t for t in _TYPES}


def attribute_type(name: str) -> AttributeType:
    """The type of ``name`` (any casing, options such as ``;binary`` ignored); default single string."""
    base = name.split(";", 1)[0]
    found = ATTRIBUTE_TYPES.get(base.lower())
    return found if found is not None else AttributeType(base, AttributeSyntax.STRING)
