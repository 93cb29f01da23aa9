"""Test scenarios built in one place: every section's knobs the tests turn, with small defaults."""

from __future__ import annotations

from dataclasses import replace

from switchsim.config import (
    HostConfig,
    LinkConfig,
    Scenario,
    SwitchConfigSection,
    SwitchMLConfig,
    TopologyConfig,
    WorkloadConfig,
)


def build_scenario(kind: str = "one_rack", *, methods: tuple[str, ...] = ("switchml", "ring"), workers: int = 4,
                   racks: int = 2, jobs: int = 2, slots: int = 256, hardened: bool = False, window: int = 128,
                   timeout_s: float = 1e-3, elements_per_packet: int = 0, elements: int = 1 << 16,
                   element_bits: int = 32, iterations: int = 1, compute_s: float = 0.0, link: LinkConfig | None = None,
                   loss: float | None = None, host: HostConfig | None = None, seed: int = 0, **top) -> Scenario:
    """A validated `Scenario` from the knobs tests vary (``loss`` overrides ``link.loss``; ``top``: other fields)."""
    link = link or LinkConfig()
    return Scenario(
        methods=methods,
        topology=TopologyConfig(kind=kind, workers=workers, racks=racks, jobs=jobs if kind == "multi_job" else 1),
        link=link if loss is None else replace(link, loss=loss),
        switch=SwitchConfigSection(slots=slots, hardened=hardened),
        switchml=SwitchMLConfig(window=window, timeout_s=timeout_s, elements_per_packet=elements_per_packet),
        workload=WorkloadConfig(elements=elements, element_bits=element_bits, iterations=iterations,
                                compute_s=compute_s),
        host=host or HostConfig(),
        seed=seed,
        **top,
    )


def tiny_scenario_text(name: str = "tiny", methods: tuple[str, ...] = ("switchml", "ring")) -> str:
    """A scenario file's text for command-line tests: 3 workers, 4,096 synthetic elements (a second a run)."""
    listed = ", ".join(f'"{method}"' for method in methods)
    return f"""
name = "{name}"
methods = [{listed}]
[topology]
workers = 3
[switch]
slots = 16
[switchml]
window = 16
[workload]
elements = 4096
source = "synthetic"
"""
