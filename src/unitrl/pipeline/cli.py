"""Commands that run several stages: the embedded demo and (later) the whole pipeline."""

from __future__ import annotations

from unitrl.config import config_command
from unitrl.pipeline.demo import DemoConfig, run_demo

demo_command = config_command(
    "demo", DemoConfig, run_demo, "HumanEval canonical and wrong programs through the sandbox."
)
