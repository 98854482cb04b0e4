"""The exchange protocol between nodes: identity keys, signed envelopes, links and messages.

Modules here may import `node.local_tasks`; `node.local_tasks` never imports this package.
"""

# Registers the session events that queue messages when local tasks change.
from node.federation import hooks  # noqa: E402, F401
