"""The agent: runs scans (on demand and scheduled), renders and signs reports, ships them to the hub."""
