"""Tamper-evident audit log: every write of the node, hash-chained in `audit_entries`."""
