"""Workloads: the tensors each worker contributes, as the integers that go on the wire.

* int32: random over the full range of a wire element (int32, or int16 / int8
  with the narrow-element extension; sums wrap at that width), sent as they are.
* float32 + block_exponent: Gaussian float32 gradients (block magnitudes vary
  over four decades), quantized with SwitchML's block-floating-point scaling
  (`workers.quantizers.block_exponent`). Every worker's block exponent goes up, the
  switch takes the max, and each worker scales by it; the exponent round is
  pipelined one window ahead, so the stream has W extra packets. The integers
  are computed here with the group's true max exponents, which is exactly what
  the pipelined protocol computes, and the simulator checks that the switch
  returned those exponents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from switchsim.config import Scenario
from workers.quantizers import block_exponent
from workers.quantizers.base import Context


@dataclass(slots=True)
class Workload:
    """What each host sends, and what is needed to check and decode it.

    Attributes:
        integers: int32 (hosts, elements on the wire): the SwitchML packet stream's data.
        exponents: int8 (hosts, packets, 2) for float workloads, else None.
        floats: float32 (hosts, S) for float workloads, else None.
        max_exponents: int8 (groups, blocks): E per block per job (float workloads).
        baseline_integers: int32 (hosts, S'): what the baselines all-reduce (same 4-byte elements).
        elements: S, tensor elements per worker.
    """

    integers: np.ndarray
    exponents: np.ndarray | None
    floats: np.ndarray | None
    max_exponents: np.ndarray | None
    baseline_integers: np.ndarray
    elements: int


def make_workload(scenario: Scenario) -> Workload:
    """The scenario's tensors, drawn from its seed."""
    rng = np.random.default_rng(scenario.seed)
    hosts = scenario.topology.total_workers
    elements = scenario.workload.elements
    if scenario.workload.dtype == "int32":
        half = 1 << (scenario.element_bits - 1)  # the full range of one wire element
        integers = rng.integers(-half, half - 1, size=(hosts, elements), dtype=np.int32, endpoint=True)
        return Workload(integers, None, None, None, integers, elements)
    k, window = scenario.elements_per_packet, scenario.switchml.window
    n = scenario.topology.workers_per_job
    blocks = max(1, -(-elements // k))
    magnitude = np.exp(rng.uniform(-7, 2, size=(hosts, blocks))).astype(np.float32)
    floats = rng.standard_normal((hosts, blocks * k), dtype=np.float32) * np.repeat(magnitude, k, axis=1)
    floats = floats[:, :elements]
    local = np.stack([block_exponent.block_exponents(np.ascontiguousarray(floats[h]), k) for h in range(hosts)])
    groups = scenario.topology.job_groups
    max_exponents = np.stack([local[group].max(axis=0) for group in groups])
    integers = np.zeros((hosts, (blocks + window) * k), dtype=np.int32)
    exponents = np.zeros((hosts, blocks + window, 2), dtype=np.int8)
    baseline = np.zeros((hosts, blocks * k), dtype=np.int32)
    quantizer = block_exponent.BlockExponent(block_size=k)
    for g, group in enumerate(groups):
        for position, host in enumerate(group):
            context = Context(worker=position, num_workers=n, shared=max_exponents[g])
            quantized = quantizer.encode(np.ascontiguousarray(floats[host]), context).integers
            integers[host], exponents[host] = block_exponent.pipelined_packets(quantized, local[host], window, k)
            baseline[host, : len(quantized)] = quantized
    return Workload(integers, exponents, floats, max_exponents, baseline, elements)


@dataclass(slots=True)
class FloatCheck:
    """How a float workload's decoded sums compare with the exact float64 sums."""

    exponents_match: bool  #: the switch returned max(e0) of every block
    max_abs_error: float  #: largest |decoded - exact| over every worker and element
    within_bound: bool  #: every error within n / (2 f) of its block
    max_relative_error: float  #: ||decoded - exact|| / ||exact|| (worst worker)


def check_float(scenario: Scenario, workload: Workload, sums: np.ndarray, received: np.ndarray) -> FloatCheck:
    """Decode each worker's integer sums and compare them with the float64 sum of its job."""
    k, window = scenario.elements_per_packet, scenario.switchml.window
    n = scenario.topology.workers_per_job
    blocks = workload.max_exponents.shape[1]
    quantizer = block_exponent.BlockExponent(block_size=k)
    exponents_match, within, worst_abs, worst_rel = True, True, 0.0, 0.0
    for g, group in enumerate(scenario.topology.job_groups):
        exact = workload.floats[group].astype(np.float64).sum(axis=0)
        bound = np.repeat(block_exponent.error_bound(workload.max_exponents[g], n), k)[: workload.elements]
        for host in group:
            exponents_match &= bool(np.array_equal(received[host, :blocks, 0], workload.max_exponents[g]))
            data = sums[host, window * k : (window + blocks) * k]
            decoded = quantizer.decode(data[: workload.elements], workload.max_exponents[g], n)
            error = np.abs(decoded.astype(np.float64) - exact)
            # float32 output rounding adds at most half an ulp of the result
            slack = np.abs(exact) * np.finfo(np.float32).eps
            within &= bool(np.all(error <= bound + slack))
            worst_abs = max(worst_abs, float(error.max(initial=0.0)))
            norm = float(np.linalg.norm(exact))
            worst_rel = max(worst_rel, float(np.linalg.norm(decoded - exact)) / norm if norm else 0.0)
    return FloatCheck(exponents_match, worst_abs, within, worst_rel)
