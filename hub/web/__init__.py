"""The hub's web view for people (IT staff and auditors): accounts, sessions, audit log and server-rendered pages."""
