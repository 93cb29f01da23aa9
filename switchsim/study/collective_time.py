"""Seconds of one collective on a scenario's links: switch all-reduce, ring all-reduce or all-gather.

Each `workers.quantizers.compressors.Transfer` maps to one simulated
collective on the same topology and links (`switchsim.sim`), the registered
method whose ``compare_name`` is the transfer's collective
(`switchsim.sim.collectives`): ``switch`` is SwitchML, ``ring`` the ring
all-reduce, ``allgather`` the rotated all-gather, all at packet level, each
at the transfer's element width (8, 16 or 32 bits). The
workload is synthetic (each element a pure function of seed, worker and index,
checked against its exact sum), so memory does not grow with the model size.

`communication_seconds` is the one function the comparison takes every row's
communication time from (`switchsim.study.compare.add_communication`); it sums
`transfer_seconds`, the one place a transfer meets the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from switchsim.config import Scenario, WorkloadConfig
from switchsim.sim.collective_method import run_method
from switchsim.sim.collectives import REGISTRY, by_compare_name
from workers.quantizers.compressors.base import Transfer

#: Transfer.collective -> the simulator's method name (from the registry).
SIMULATOR_METHODS = {entry.compare_name: entry.name for entry in REGISTRY.values() if entry.compare_name}


def transfer_scenario(base: Scenario, transfer: Transfer) -> Scenario:
    """``base`` with one collective of ``transfer``'s size and element width as its only workload."""
    workload = WorkloadConfig(elements=transfer.elements, element_bits=transfer.element_bits, source="synthetic")
    return replace(base, methods=(SIMULATOR_METHODS[transfer.collective],), workload=workload,
                   switchml=replace(base.switchml, elements_per_packet=0))


def transfer_seconds(base: Scenario, transfer: Transfer) -> float:
    """Simulated seconds of ``transfer`` on ``base``'s links (aggregation time of one iteration).

    Raises:
        RuntimeError: the collective did not complete or its sums were wrong.
    """
    scenario = transfer_scenario(base, transfer)
    result, _ = run_method(by_compare_name(transfer.collective).name, scenario, None)
    if not (result.completed and result.correct):
        raise RuntimeError(f"{transfer}: the simulated collective did not complete correctly")
    return float(result.aggregation_time_s)


def with_workers(base: Scenario, workers: int) -> Scenario:
    """``base`` with ``workers`` workers (the same links and switch)."""
    from switchsim.config import with_override

    return with_override(base, "topology.workers", workers)


def communication_seconds(base: Scenario, transfers: Iterable[Transfer],
                          cache: dict[Transfer, float] | None = None) -> float:
    """Simulated seconds of one iteration's ``transfers`` on ``base``, one after the other (their sum).

    ``cache`` (optional) holds `transfer_seconds` already simulated on ``base`` (`transfers_seconds`); a
    transfer not in it is simulated now.
    """
    cache = {} if cache is None else cache
    total = 0.0
    for transfer in transfers:
        if transfer not in cache:
            cache[transfer] = transfer_seconds(base, transfer)
        total += cache[transfer]
    return total


def transfers_seconds(base: Scenario, transfers: Iterable[Transfer],
                      progress: Callable[[int, int], None] | None = None) -> dict[Transfer, float]:
    """Each distinct transfer simulated once: ``{transfer: seconds}``; ``progress(done, total)`` after each."""
    distinct = sorted(set(transfers), key=lambda t: (t.collective, t.element_bits, t.elements))
    seconds = {}
    for index, transfer in enumerate(distinct):
        seconds[transfer] = transfer_seconds(base, transfer)
        if progress:
            progress(index + 1, len(distinct))
    return seconds
