"""`unitrl doctor` proves each layer it reports with a probe run inside the real sandbox, rlimits included,
and the probes see the difference when a layer is off."""

from __future__ import annotations

import os
import tempfile

from unitrl.sandbox import Sandbox, SandboxConfig
from unitrl.sandbox.cli import doctor_checks, run_doctor_probes


def _probe(isolation: str) -> tuple[dict, dict[str, tuple[str, bool]]]:
    cfg = SandboxConfig(workers=1, isolation=isolation)
    host = sum(name.isdigit() for name in os.listdir("/proc"))
    with tempfile.NamedTemporaryFile(prefix="unitrl-doctor-") as marker, Sandbox(cfg) as sb:
        rows = run_doctor_probes(sb, doctor_checks(cfg, marker.name, host))
        return sb.layers, {name: (layer, held) for name, layer, _, held in rows}


def test_every_reported_layer_and_rlimit_is_probed_and_holds():
    layers, rows = _probe("auto")
    assert {layer for layer, _ in rows.values()} == {*layers, "rlimits"}  # nothing reported unprobed
    for name, (layer, held) in rows.items():
        if layer == "rlimits" or layers[layer]:
            assert held, name
    assert {n for n, (layer, _) in rows.items() if layer == "rlimits"} == {
        "memory", "file size", "open files", "processes", "core dumps", "cpu time",
    }  # fmt: skip


def test_probes_see_missing_namespaces():
    layers, rows = _probe("none")
    assert not any(layers[n] for n in ("network", "mount", "pid"))
    for name in ("network", "mount", "pid"):
        assert rows[name] == (name, False), name  # the caller's file and loopback are reachable
    assert all(held for layer, held in rows.values() if layer == "rlimits")
