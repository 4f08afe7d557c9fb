"""Fixtures for the integration tests: a real `unitrl serve` on loopback, started by tests/serve's helper
(loaded by path, so the two conftest modules never clash), and a warm pool closed after the module."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "unitrl_serve_conftest", Path(__file__).parents[1] / "serve" / "conftest.py"
)
serve_helpers = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = serve_helpers  # dataclasses look their module up there
_SPEC.loader.exec_module(serve_helpers)


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    server = serve_helpers.start_server("--workers", "1")
    try:
        yield server.url
    finally:
        serve_helpers.stop_and_check(server)


@pytest.fixture(scope="module", autouse=True)
def verl_pool() -> Iterator[None]:
    """Two workers for the module-level pool (set before its first use), closed after the module."""
    import os

    from unitrl.integrations import verl

    old = os.environ.get("UNITRL_WORKERS")
    os.environ["UNITRL_WORKERS"] = "2"
    yield
    verl.close()
    if old is None:
        os.environ.pop("UNITRL_WORKERS", None)
    else:
        os.environ["UNITRL_WORKERS"] = old
