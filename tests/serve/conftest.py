"""Fixtures for the server tests (helpers in tests/servers.py)."""

import pytest
from servers import running_server


@pytest.fixture(scope="module")
def tiny_server(shared_bundle):
    """A server on the session's tiny model, shared by a module's tests (small limits to reach 413 cheaply)."""
    with running_server(shared_bundle[0], max_texts=16, max_body_bytes=64 * 1024) as server:
        yield server
