"""The exchange protocol between nodes: identity keys, signed envelopes, links and messages.

Modules here may import `node.local_tasks`; `node.local_tasks` never imports this package.
"""
