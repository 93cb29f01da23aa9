"""Guard rail: estimate the memory a run needs before allocating it, and refuse clearly when it will not fit."""

from __future__ import annotations

import os

from switchsim.config import Scenario, ScenarioError
from switchsim.sim.collectives import collective

#: Copies of a (hosts x elements) int32 array an in-memory run holds at its peak: the tensors, the
#: results SwitchML keeps, and the baselines' working buffers and originals.
TENSOR_COPIES = 4
#: Extra copies for float32 workloads (floats, quantized integers, the baselines' integers).
FLOAT_COPIES = 3


def estimate_bytes(scenario: Scenario) -> tuple[int, str]:
    """Bytes a run of ``scenario`` needs at its peak, and what drives that number."""
    topology, workload, switchml = scenario.topology.shape, scenario.workload, scenario.switchml
    hosts = topology.hosts
    jobs = len(topology.jobs)
    k = scenario.elements_per_packet
    switches = len(topology.switches)
    window = switchml.window
    fixed = (switches * scenario.switch.slots * 2 * (k * 4 + 16)  # slot pools
             + hosts * window * 4 * 8 * 2  # protocol lanes, calendar
             + jobs * 2 * window * k * 4  # synthetic expected sums
             + 4 * (hosts + switches) * min(window, 64) * (k * 4 + 26))  # payload buffers
    if workload.source == "synthetic":
        # host collectives (registry): the exact sums they check against, and their flows' queues
        per_method = {m: collective_bytes(scenario, m) for m in scenario.methods}
        baselines = max(per_method.values())
        if scenario.job_methods:  # every job's flows at once: each job's share of its method's estimate
            baselines = sum(collective_bytes(scenario, m) // jobs for m in scenario.job_methods)
        return fixed + baselines, (f"{switches} switch(es) x {scenario.switch.slots} slots, {hosts} hosts x window "
                                   f"{window}, and the baselines' working tensors ({', '.join(scenario.methods)})")
    copies = TENSOR_COPIES + (FLOAT_COPIES if workload.dtype == "float32" else 0)
    tensors = copies * hosts * workload.elements * 4 + jobs * workload.elements * 4
    return fixed + tensors, (f"{hosts} hosts x {workload.elements:,} elements x 4 bytes x {copies} copies "
                             f"(workload.source = \"tensors\" holds every worker's tensor in memory)")


#: Bytes of one transport flow's arrays (its row, routes, send and receive queues, a window of payloads).
FLOW_BYTES = 8 * 1024


def collective_bytes(scenario: Scenario, method: str) -> int:
    """Bytes method ``method``'s flows and exact check hold on ``scenario`` (0 for SwitchML), from the registry."""
    entry = collective(method)
    if entry.is_switch:
        return 0
    topology = scenario.topology
    workers = topology.workers_per_job
    flows = entry.flows_per_job(workers, scenario.baselines.servers) * topology.job_count
    shape = topology.shape
    racks = len({shape.host_switch[host] for host in shape.jobs[0].hosts})
    elements_per_packet = scenario.baselines.packet_payload_bytes * 8 // scenario.element_bits
    chunk = -(-scenario.workload.elements // workers)
    chunk_packets = max(1, -(-chunk // elements_per_packet))
    held = entry.held_packets(workers, racks, chunk_packets)
    chunk_elements = scenario.baselines.chunk_bytes * 8 // scenario.element_bits
    if chunk_elements:  # rounds: a stage holds at most one round's step (NCCL's chunk), two stages at once
        held = min(held, 2 * -(-chunk_elements // elements_per_packet))
    held *= workers * topology.job_count
    return (entry.check_bytes_per_element * scenario.workload.elements * topology.job_count
            + flows * (FLOW_BYTES + 2 * scenario.baselines.packet_payload_bytes)
            + 2 * held * elements_per_packet * 4)  # held payloads, twice: the pool doubles when it grows


def available_bytes() -> int:
    """Memory available to this process now (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def refuse_if_too_big(what: str, needed: int, drivers: str, way_out: str, available: int | None = None) -> int:
    """``needed`` (bytes), or a ScenarioError naming ``what``, the estimate, its drivers and the way out.

    Example:
        >>> refuse_if_too_big("loop", 2**31, "8 workers", "use fewer --elements", available=2**30)
        Traceback (most recent call last):
        ...
        switchsim.config.ScenarioError: loop: needs about 2.0 GiB but 1.0 GiB is available; driven by 8 workers...
    """
    available = available_bytes() if available is None else available
    if needed > available:
        raise ScenarioError(f"{what}: needs about {needed / 2**30:.1f} GiB but {available / 2**30:.1f} GiB "
                            f"is available; driven by {drivers}. To go on, {way_out}")
    return needed


def check_memory(scenario: Scenario, available: int | None = None) -> int:
    """The estimate, or a ScenarioError naming it, its drivers and the way out when it exceeds what is available."""
    needed, drivers = estimate_bytes(scenario)
    way_out = ('set [workload] source = "synthetic" (int32): values are generated per '
               "packet and every result is still checked exactly, in memory that does not grow with the tensor"
               if scenario.workload.source == "tensors"
               else "use fewer hosts, slots or elements")
    return refuse_if_too_big(scenario.name, needed, drivers, way_out, available)
