"""The TLS endpoint enums, apart from the pydantic models so the CLI can declare its options without
importing pydantic (`tenken --help` stays fast)."""

from __future__ import annotations

from enum import StrEnum


class Zone(StrEnum):
    OPEN = "open"  # open network (the conservative default): SO-13-6 requires client certificates
    CLOSED = "closed"  # closed network / IPsec VPN: client-certificate use is reported, not required


class StartTls(StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"
    LDAP = "ldap"
    FTP = "ftp"
    XMPP = "xmpp"
    XMPP_SERVER = "xmpp_server"
    RDP = "rdp"
    POSTGRES = "postgres"
