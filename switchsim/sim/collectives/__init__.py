"""The registry of collectives: one entry per method a scenario may name.

An entry says how the method runs (a SwitchML run, or a schedule of flows
built by its module's ``build``), how many extra hosts it needs, how much
memory per element it holds, and which collective it is in ``study
compare``'s vocabulary (`workers.quantizers.compressors.Transfer.collective`).
Everything that dispatches on a method name (config validation, memory
estimates, the runner, the plots, `switchsim.study.collective_time`) reads
this table. A new collective is one module with a ``build`` function and one
entry here.

This module imports nothing heavy (the configuration reads it); builders are
loaded when first used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Collective:
    """One method.

    Attributes:
        name: the method's name in scenarios and reports.
        module: the module whose ``build(table, group, members, elements, servers)`` adds its flows;
            empty for SwitchML (the switch aggregates; `switchsim.sim.switchml_method`).
        servers: extra hosts it needs: 0, or "baselines.servers" (the parameter servers).
        check_bytes_per_element: memory the exact check holds per element per job (cached sums).
        compare_name: its `Transfer.collective` name in ``study compare``, or "" if none.
        color: its colour in plots.
        flows_per_job: ``flows_per_job(n, servers)``: flows one job of n workers uses (memory estimates).
        held_packets: ``held_packets(n, racks, chunk_packets)``: packets (payload buffers) one worker holds
            at its peak beyond its flows' windows, for a job of n workers on ``racks`` racks and a
            ``ceil(S/n)`` chunk of ``chunk_packets`` packets (memory estimates; 0: negligible).
        stage_buffer_bytes: the receive FIFO of one connection, bytes: a consumer's room beyond a step
            (`switchsim.sim.transport.credit`), at least `switchsim.sim.state.STAGE_BUFFER_WINDOWS` windows.
            0: those windows alone.
    """

    name: str
    module: str
    servers: str = ""
    check_bytes_per_element: int = 5
    compare_name: str = ""
    color: str = "grey"
    flows_per_job: Callable[[int, int], int] = lambda n, servers: 0
    held_packets: Callable[[int, int, int], int] = lambda n, racks, chunk_packets: 0
    stage_buffer_bytes: int = 0

    @property
    def build(self) -> Callable:
        """The schedule builder (imported on first use)."""
        return importlib.import_module(self.module).build

    @property
    def is_switch(self) -> bool:
        """True for in-network aggregation (SwitchML), which runs without flows."""
        return not self.module


#: NCCL's receive FIFO per connection (NCCL_BUFFSIZE; src/init.cc: DEFAULT_BUFFSIZE (1 << 22), 4 MiB): the
#: Simple protocol's NCCL_STEPS = 8 slots, into which the previous rank of a ring writes. The flat ring's stage
#: buffer; the hierarchical ring keeps its windows (in rounds the FIFO let the next round's in-rack stages run
#: into the cross-rack ring's: 4 % slower and 2.4x the peak buffers, docs/simulator.md).
NCCL_BUFFSIZE = 4 << 20

REGISTRY: dict[str, Collective] = {
    entry.name: entry
    for entry in (
        Collective("switchml", "", check_bytes_per_element=0, compare_name="switch", color="#1b9e77"),
        Collective("ring", "switchsim.sim.collectives.ring", compare_name="ring", color="#d95f02",
                   flows_per_job=lambda n, servers: n, stage_buffer_bytes=NCCL_BUFFSIZE),
        Collective("ps", "switchsim.sim.collectives.ps", servers="baselines.servers", color="#7570b3",
                   flows_per_job=lambda n, servers: 2 * n * servers),
        Collective("allgather", "switchsim.sim.collectives.allgather", check_bytes_per_element=0,
                   compare_name="allgather", color="#e7298a", flows_per_job=lambda n, servers: n * (n - 1)),
        Collective("tree", "switchsim.sim.collectives.tree", color="#66a61e",
                   flows_per_job=lambda n, servers: 4 * (n - 1)),
        Collective("hierarchical-ring", "switchsim.sim.collectives.hierarchical_ring", color="#e6ab02",
                   flows_per_job=lambda n, servers: 3 * n,
                   held_packets=lambda n, racks, chunk_packets: racks * chunk_packets if 1 < racks < n else 0),
    )
}


def method_names() -> tuple[str, ...]:
    """Every registered method, in registry order."""
    return tuple(REGISTRY)


def collective(name: str) -> Collective:
    """The entry of ``name``; KeyError naming the registered methods otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"method {name!r} is not registered; registered: {list(REGISTRY)}") from None


def by_compare_name(compare_name: str) -> Collective:
    """The entry ``study compare`` means by ``compare_name`` (a `Transfer.collective`)."""
    for entry in REGISTRY.values():
        if entry.compare_name == compare_name:
            return entry
    raise KeyError(f"no registered method is {compare_name!r} in study compare's vocabulary")
