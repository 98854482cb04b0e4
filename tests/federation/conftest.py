"""Fixtures of the federation tests: this node's key and a linked child's key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.settings import Settings
from node.federation.identity import ensure_node_keys, load_private_key


@pytest.fixture(scope="session")
def node_key(settings: Settings) -> Ed25519PrivateKey:
    """The key pair of the test node (level 0, VPTW, node id "local")."""
    ensure_node_keys(settings)
    return load_private_key(settings)


@pytest.fixture
def child_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
