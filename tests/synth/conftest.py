"""A real sandbox shared by the synth tests of one module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def sandbox():
    from unitrl.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(workers=2, timeout=1.0)) as sb:
        yield sb
