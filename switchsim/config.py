"""Scenarios: TOML files loaded into frozen, validated dataclasses.

A scenario says what to simulate: topology, links, switch, SwitchML protocol
parameters, hosts, workload and which methods to compare. Every bad value is
reported as ``ScenarioError`` naming the field (``link.loss``), the value and
the allowed range; nothing is silently ignored (unknown keys are errors too).

Components receive only their own part (``Channel(env, scenario.link)``).
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from switchsim.paths import read_text
from switchsim.protocol import spec
from switchsim.resources import scenarios_dir
from switchsim.sim.collectives import collective, method_names
from switchsim.topology import BUILDERS, Topology, TopologyError, build_topology
from switchsim.topology.jobs import PLACEMENTS
from workers.protocol import DEFAULT_RTO_MIN_S
from workers.protocol_state import RECOVERY_POLICIES


class ScenarioError(ValueError):
    """A scenario value is missing, unknown or out of range."""


def _need(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ScenarioError(f"{name} = {value!r} is out of range: must be {allowed}")


def _probability(name: str, value: float) -> None:
    _need(isinstance(value, int | float) and 0.0 <= value < 1.0, name, value, "a probability in [0, 1)")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _within(name: str, value: float, low: float, high: float, unit: str, *, open_low: bool = False) -> None:
    """``value`` is a finite number in [low, high] (``(low, high]`` with ``open_low``), else a `ScenarioError`.

    The upper bounds keep out values that can only produce a run that never
    finishes (a 1 b/s link, a day of propagation delay); they are far above
    anything a datacenter has.
    """
    ok = _number(value) and (value > low if open_low else value >= low) and value <= high
    _need(ok, name, value, f"a finite number in {'(' if open_low else '['}{low:g}, {high:g}] {unit}")


def _positive(name: str, value: float, high: float, unit: str = "seconds") -> None:
    _within(name, value, 0, high, unit, open_low=True)


def _non_negative(name: str, value: float, high: float = 10.0, unit: str = "seconds") -> None:
    _within(name, value, 0, high, unit)


#: Link rates a scenario may use, bits/s: 1 kb/s to 10 Tb/s.
RATE_RANGE_BPS = (1e3, 1e13)
#: Longest simulated time a run may be given, seconds (the engines count picoseconds in int64: ~106 days).
MAX_TIME_LIMIT_S = 1e6


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Every link (both directions) in the topology.

    Attributes:
        rate_bps: bandwidth, bits/s.
        delay_s: propagation delay, seconds.
        queue_bytes: egress queue capacity per direction (tail drop), bytes.
        loss: Bernoulli loss probability per packet per direction.
        duplicate: probability a packet is delivered twice.
        duplicate_delay_s: extra delay of the duplicate copy, seconds.
        reorder: probability a packet is held back by ``reorder_delay_s``.
        reorder_delay_s: extra delay of a reordered packet, seconds.
    """

    rate_bps: float = 10e9
    delay_s: float = 1e-6
    queue_bytes: int = 4 * 1024 * 1024
    loss: float = 0.0
    duplicate: float = 0.0
    duplicate_delay_s: float = 0.0
    reorder: float = 0.0
    reorder_delay_s: float = 0.0

    def __post_init__(self) -> None:
        _within("link.rate_bps", self.rate_bps, *RATE_RANGE_BPS, "bits/s")
        _non_negative("link.delay_s", self.delay_s)
        _need(isinstance(self.queue_bytes, int) and self.queue_bytes >= 2048, "link.queue_bytes", self.queue_bytes,
              "an integer >= 2048 bytes")
        for name in ("loss", "duplicate", "reorder"):
            _probability(f"link.{name}", getattr(self, name))
        _non_negative("link.duplicate_delay_s", self.duplicate_delay_s)
        _non_negative("link.reorder_delay_s", self.reorder_delay_s)


#: Registered topology builders (`switchsim.topology.registry.BUILDERS`): a new shape is one module + one entry.
TOPOLOGIES = tuple(BUILDERS)


@dataclass(frozen=True, slots=True)
class TopologyConfig:
    """Which hosts and switches, and how they connect: a registered builder and its parameters.

    The shape itself (hosts, switches, links, jobs, aggregation trees, paths) is
    the `switchsim.topology.Topology` the builder makes; everything that needs a
    count or a path asks it (`Scenario.built_topology`).

    Attributes:
        kind: the builder (`switchsim.topology.registry.BUILDERS`): "one_rack" (n workers, one
            switch), "two_level" (racks of workers under ToRs under one spine), "multi_job" (``jobs``
            jobs of n workers sharing one switch), "fat_tree" (k-ary three-tier fat-tree) or "tree"
            (a tree of any depth).
        workers: workers per job (one_rack, multi_job) or per rack (two_level).
        racks: racks (two_level).
        jobs: concurrent jobs (multi_job; fat_tree and tree split their hosts into equal jobs).
        k: switch radix of a fat_tree (even; k^3/4 hosts).
        oversubscription: r in "r:1 at the ToR uplinks": a ToR's host-facing bandwidth is r times
            its uplink bandwidth (fat_tree, tree, two_level; 1 = none).
        fanout: a tree's fan-outs from the bottom: hosts per ToR, ToRs per tier-1 switch, ...
        placement: how fat_tree and tree deal hosts to jobs: "blocks" (consecutive hosts: whole racks
            and pods) or "interleaved" (host h in job h mod jobs: every rack holds every job).
    """

    kind: str = "one_rack"
    workers: int = 8
    racks: int = 2
    jobs: int = 1
    k: int = 4
    oversubscription: float = 1.0
    fanout: tuple = (4, 4)
    placement: str = "blocks"

    def __post_init__(self) -> None:
        _need(self.kind in TOPOLOGIES, "topology.kind", self.kind, f"one of {TOPOLOGIES}")
        _need(isinstance(self.workers, int) and 1 <= self.workers <= spec.MAX_WORKERS, "topology.workers",
              self.workers, f"an integer in 1..{spec.MAX_WORKERS}")
        _need(isinstance(self.racks, int) and 1 <= self.racks <= spec.MAX_WORKERS, "topology.racks", self.racks,
              f"an integer in 1..{spec.MAX_WORKERS}")
        jobs_limit = 64 if self.kind == "multi_job" else 1 << 16
        _need(isinstance(self.jobs, int) and not isinstance(self.jobs, bool) and 1 <= self.jobs <= jobs_limit,
              "topology.jobs", self.jobs, f"an integer in 1..{jobs_limit}")
        _need(self.placement in PLACEMENTS, "topology.placement", self.placement, f"one of {PLACEMENTS}")
        _within("topology.oversubscription", self.oversubscription, 1.0, 64.0, "(r in r:1)")
        _need(self.kind not in ("one_rack", "two_level") or self.jobs == 1, "topology.jobs", self.jobs,
              f"1 with kind = {self.kind!r} (use multi_job, fat_tree or tree for several jobs)")
        try:
            build_topology(self, LinkConfig())  # the shape must exist (the builder checks its own fields)
        except TopologyError as error:
            raise ScenarioError(str(error)) from None

    @property
    def shape(self) -> Topology:
        """The topology at the default link settings: its counts, jobs and paths (rates come from `Scenario`)."""
        return build_topology(self, LinkConfig())

    @property
    def total_workers(self) -> int:
        """Worker hosts in the whole topology."""
        return self.shape.hosts

    @property
    def job_count(self) -> int:
        """Concurrent jobs."""
        return len(self.shape.jobs)

    @property
    def workers_per_job(self) -> int:
        """Workers taking part in one all-reduce (every job has as many)."""
        return len(self.shape.jobs[0].hosts)

    @property
    def job_groups(self) -> list[list[int]]:
        """Hosts of each job, in bitmap order: job j is hosts j*n .. (j+1)*n - 1, n = `workers_per_job`.

        Example:
            >>> TopologyConfig(kind="multi_job", workers=2, jobs=3).job_groups
            [[0, 1], [2, 3], [4, 5]]
        """
        return self.shape.job_groups


@dataclass(frozen=True, slots=True)
class SwitchConfigSection:
    """The switches: pool size, pipeline latency, mode.

    Attributes:
        slots: aggregator slots per switch (all jobs' windows must fit).
        pipeline_latency_s: ingress-to-egress latency per packet, seconds.
        hardened: hardened mode (see docs/hardened-mode.md).
    """

    slots: int = 512
    pipeline_latency_s: float = 1e-6
    hardened: bool = False

    def __post_init__(self) -> None:
        _need(isinstance(self.slots, int) and 1 <= self.slots <= spec.MAX_SLOTS, "switch.slots", self.slots,
              f"an integer in 1..{spec.MAX_SLOTS}")
        _non_negative("switch.pipeline_latency_s", self.pipeline_latency_s, 1.0)
        _need(isinstance(self.hardened, bool), "switch.hardened", self.hardened, "true or false")


@dataclass(frozen=True, slots=True)
class SwitchMLConfig:
    """Worker-side SwitchML protocol parameters.

    Attributes:
        elements_per_packet: k, elements per packet; 0 (default) picks the 256-byte payload at
            workload.element_bits (64 int32, 128 int16, 256 int8). Explicit values must be a
            256- or 1024-byte payload at that width: 64 or 256 (32 bits), 128 or 512 (16), 256 or 1024 (8).
        window: W, outstanding packets (= slots) per worker.
        timeout_s: initial retransmission timeout, seconds.
        backoff_threshold: timeouts since the last doubling that double the period (official: 100).
        backoff_threshold_increment: growth of that threshold at each doubling (official: 100).
        recovery: loss-recovery policy: "official" (default: the official client's backoff, which
            never comes back down), "reset" (that backoff, undone after each window of results) or
            "rto" (a timeout estimated from measured round trips, as TCP does; `workers.protocol_state`).
        rto_min_s: the "rto" policy's floor on the estimated timeout, seconds.
    """

    elements_per_packet: int = 0
    window: int = 128
    timeout_s: float = 1e-3
    backoff_threshold: int = 100
    backoff_threshold_increment: int = 100
    recovery: str = "official"
    rto_min_s: float = DEFAULT_RTO_MIN_S

    def __post_init__(self) -> None:
        _need(self.elements_per_packet in (0, *spec.ALL_ELEMENTS_PER_PACKET), "switchml.elements_per_packet",
              self.elements_per_packet, f"0 (automatic) or one of {spec.ALL_ELEMENTS_PER_PACKET}")
        _need(isinstance(self.window, int) and 1 <= self.window <= spec.MAX_SLOTS, "switchml.window", self.window,
              f"an integer in 1..{spec.MAX_SLOTS}")
        _positive("switchml.timeout_s", self.timeout_s, 60.0)
        _need(self.recovery in RECOVERY_POLICIES, "switchml.recovery", self.recovery, f"one of {RECOVERY_POLICIES}")
        _positive("switchml.rto_min_s", self.rto_min_s, self.timeout_s if self.recovery == "rto" else 60.0,
                  "seconds" + (" (<= switchml.timeout_s with recovery = 'rto')" if self.recovery == "rto" else ""))
        _need(isinstance(self.backoff_threshold, int) and self.backoff_threshold >= 1, "switchml.backoff_threshold",
              self.backoff_threshold, "an integer >= 1")
        _need(isinstance(self.backoff_threshold_increment, int) and self.backoff_threshold_increment >= 0,
              "switchml.backoff_threshold_increment", self.backoff_threshold_increment, "an integer >= 0")


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Worker host costs.

    Attributes:
        send_overhead_s: host time to emit one packet (serial per host), seconds.
        receive_overhead_s: delay from arrival to the protocol seeing a packet, seconds.
    """

    send_overhead_s: float = 0.0
    receive_overhead_s: float = 0.0

    def __post_init__(self) -> None:
        _non_negative("host.send_overhead_s", self.send_overhead_s, 1.0)
        _non_negative("host.receive_overhead_s", self.receive_overhead_s, 1.0)


DTYPES = ("int32", "float32")
#: Where a workload's integers come from: whole tensors in memory, a counter-based generator, or the
#: buckets of a recorded DDP job (`switchsim.sim.trace_replay`).
SOURCES = ("tensors", "synthetic", "trace")
QUANTIZERS = ("identity", "block_exponent")


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """What is all-reduced.

    Attributes:
        elements: S, tensor elements per worker.
        dtype: "int32" (sent as is) or "float32" (through ``quantizer``).
        quantizer: "identity" (int32 only) or "block_exponent" (SwitchML's float scaling).
        iterations: R, all-reduces in a row.
        compute_s: compute time between iterations, seconds.
        element_bits: bits of each integer on the wire, for every method: 32 (the official
            SwitchML format) or 16 / 8 (the narrow-element extension, `switchsim.protocol.spec`).
            Narrow int32 workloads draw integers of that width; sums wrap modulo 2**element_bits.
        source: "tensors" (default): every worker's tensor is drawn and held in memory (small runs,
            float32). "synthetic": element i of worker w is a pure function of (seed, w, i), regenerated
            whenever a packet is (re)sent, and each result is checked against its exact sum computed from
            the same generator; memory does not grow with ``elements`` (int32 only). "trace": the
            buckets of a recorded DDP job (``trace``), each all-reduced (synthetic integers) when the
            trace says it is ready (`switchsim.sim.trace_replay`); ``elements``, ``iterations`` and
            ``compute_s`` are not used.
        trace: the trace file (JSON, docs/pytorch.md) when ``source = "trace"``; a relative path is
            relative to the scenario file, or a trace shipped with switchsim (``switchsim/traces/``).
        compute_scale: factor on the trace's compute times (0.1 models an accelerator 10x faster), > 0.
    """

    elements: int = 1 << 20
    dtype: str = "int32"
    quantizer: str = "identity"
    iterations: int = 1
    compute_s: float = 0.0
    element_bits: int = 32
    source: str = "tensors"
    trace: str = ""
    compute_scale: float = 1.0

    def __post_init__(self) -> None:
        _need(self.source in SOURCES, "workload.source", self.source, f"one of {SOURCES}")
        _need(self.source != "trace" or bool(self.trace), "workload.trace", self.trace,
              'a trace file (JSON) when workload.source = "trace"')
        _need(self.source == "trace" or not self.trace, "workload.trace", self.trace,
              'empty unless workload.source = "trace"')
        _need(_number(self.compute_scale) and 0 < self.compute_scale <= 1000, "workload.compute_scale",
              self.compute_scale, "a number in (0, 1000]")
        _need(self.source == "tensors" or self.dtype == "int32", "workload.source", self.source,
              "tensors when workload.dtype is float32 (the synthetic generator draws integers)")
        _need(isinstance(self.elements, int) and 1 <= self.elements <= 1 << 31, "workload.elements", self.elements,
              "an integer in 1..2**31")
        _need(self.dtype in DTYPES, "workload.dtype", self.dtype, f"one of {DTYPES}")
        _need(self.quantizer in QUANTIZERS, "workload.quantizer", self.quantizer, f"one of {QUANTIZERS}")
        _need(not (self.dtype == "float32" and self.quantizer == "identity"), "workload.quantizer", self.quantizer,
              "a float quantizer (block_exponent) when workload.dtype is float32")
        _need(not (self.dtype == "int32" and self.quantizer != "identity"), "workload.quantizer", self.quantizer,
              "identity when workload.dtype is int32")
        _need(isinstance(self.iterations, int) and 1 <= self.iterations <= 10_000, "workload.iterations",
              self.iterations, "an integer in 1..10000")
        _non_negative("workload.compute_s", self.compute_s, 3600.0)
        _need(self.element_bits in spec.WIRE_ELEMENT_BITS, "workload.element_bits", self.element_bits,
              f"one of {spec.WIRE_ELEMENT_BITS}")
        _need(self.dtype == "int32" or self.element_bits == spec.ELEMENT_BITS, "workload.element_bits",
              self.element_bits, "32 when workload.dtype is float32 (the block-exponent quantizer fills int32; "
              "IntSGD at narrow widths is `switchsim study training`)")


#: The largest seed of a scenario or a command (``--seed``): seeds are signed 64-bit integers >= 0.
MAX_SEED = 2**63 - 1
METHODS = method_names()
#: A scenario's name: it names its output folder (out/<name>), so it is one plain path component.
SCENARIO_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
ENGINES = ("fast", "simpy")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the packet-level SwitchML run is executed (the results do not depend on it).

    Attributes:
        engine: "fast" (default): the event loop compiled with numba, for scale; "simpy": the same
            events on SimPy's calendar, the readable reference. Both give identical results.
    """

    engine: str = "fast"

    def __post_init__(self) -> None:
        _need(self.engine in ENGINES, "simulator.engine", self.engine, f"one of {ENGINES}")


#: Transports the host collectives run over (`switchsim.sim.transport`).
TRANSPORTS = ("rdma-gbn", "selective")


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """Host collectives (ring, parameter server, all-gather, tree) and the transport they run over.

    Attributes:
        packet_payload_bytes: application bytes per data packet (MTU 1500 minus IPv4/UDP headers).
        retransmit_timeout_s: ``selective``'s RTO_high, seconds (IRN: 320 us; RTO_low is min(100 us, this)).
        transport: "rdma-gbn" (RoCE RC, go-back-N) or "selective" (IRN-style selective repeat).
        rdma_timeout_exponent: k of ``rdma-gbn``'s local ACK timeout, 4.096 us x 2**k (14: 67 ms).
        servers: parameter-server hosts (``ps``), each owning 1/servers of the tensor.
        chunk_bytes: the most a ring rank (``ring``, ``hierarchical-ring``) sends in one step of one
            round, bytes: a larger tensor runs in rounds, as NCCL's ring kernel loops over chunks of
            NCCL_BUFFSIZE / NCCL_STEPS x ALLREDUCE_CHUNKSTEPS = 4 MiB / 8 x 4 = 2 MiB. 0: one round.
    """

    packet_payload_bytes: int = 1472
    retransmit_timeout_s: float = 320e-6
    transport: str = "rdma-gbn"
    rdma_timeout_exponent: int = 14
    servers: int = 1
    chunk_bytes: int = 2 * 2**20

    def __post_init__(self) -> None:
        _need(isinstance(self.packet_payload_bytes, int) and 64 <= self.packet_payload_bytes <= 9000,
              "baselines.packet_payload_bytes", self.packet_payload_bytes, "an integer in 64..9000 bytes")
        _positive("baselines.retransmit_timeout_s", self.retransmit_timeout_s, 60.0)
        _need(self.transport in TRANSPORTS, "baselines.transport", self.transport, f"one of {TRANSPORTS}")
        _need(isinstance(self.rdma_timeout_exponent, int) and 0 <= self.rdma_timeout_exponent <= 31,
              "baselines.rdma_timeout_exponent", self.rdma_timeout_exponent, "an integer in 0..31")
        _need(isinstance(self.servers, int) and 1 <= self.servers <= 64, "baselines.servers", self.servers,
              "an integer in 1..64")
        _need(isinstance(self.chunk_bytes, int) and not isinstance(self.chunk_bytes, bool)
              and (self.chunk_bytes == 0 or self.packet_payload_bytes <= self.chunk_bytes <= 2**40),
              "baselines.chunk_bytes", self.chunk_bytes,
              f"0 (one round) or an integer in {self.packet_payload_bytes}..2**40 bytes (at least "
              "baselines.packet_payload_bytes)")


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """Default parameter sweep of a scenario (used by ``switchsim sweep``).

    Attributes:
        param: SECTION.FIELD to vary, e.g. "link.loss"; empty for none.
        values: the values, in order.
        grid: further axes, ``((SECTION.FIELD, (values, ...)), ...)``: the sweep runs every
            combination (TOML: a ``[sweep.grid]`` table of ``"section.field" = [values]``).
        seeds: seeds every point runs under (empty: the scenario's ``seed`` only).
    """

    param: str = ""
    values: tuple = ()
    grid: tuple = ()
    seeds: tuple = ()

    def __post_init__(self) -> None:
        _need(isinstance(self.param, str), "sweep.param", self.param, "a string SECTION.FIELD")
        _need(bool(self.values) == bool(self.param), "sweep.values", list(self.values),
              "a non-empty list exactly when sweep.param is set")
        for entry in self.grid:
            ok = (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
                  and isinstance(entry[1], tuple) and len(entry[1]) > 0)
            _need(ok, "sweep.grid", entry, 'entries "SECTION.FIELD" = [one or more values]')
        names = [self.param] * bool(self.param) + [name for name, _ in self.grid]
        _need(len(set(names)) == len(names), "sweep.grid", names, "each SECTION.FIELD once (param included)")
        _need(all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in self.seeds)
              and len(set(self.seeds)) == len(self.seeds), "sweep.seeds", list(self.seeds),
              "distinct integers >= 0")

    @property
    def axes(self) -> tuple[tuple[str, tuple], ...]:
        """Every swept SECTION.FIELD with its values: ``param`` first, then ``grid``."""
        return ((self.param, self.values),) * bool(self.param) + self.grid


@dataclass(frozen=True, slots=True)
class Scenario:
    """One simulation: everything `switchsim.sim.run.run_scenario` needs."""

    name: str = "scenario"
    seed: int = 0
    methods: tuple[str, ...] = ("switchml", "ring")
    max_time_s: float = 3600.0
    #: Jobs sharing the fabric: one method per job (``topology.jobs`` of them), all running at once
    #: (`switchsim.sim.tenants`); empty: each of ``methods`` runs on every job in turn.
    job_methods: tuple[str, ...] = ()
    topology: TopologyConfig = field(default_factory=TopologyConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    switch: SwitchConfigSection = field(default_factory=SwitchConfigSection)
    switchml: SwitchMLConfig = field(default_factory=SwitchMLConfig)
    host: HostConfig = field(default_factory=HostConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def __post_init__(self) -> None:
        _need(isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed <= MAX_SEED, "seed",
              self.seed, f"an integer in 0..{MAX_SEED} (2**63 - 1)")
        _need(isinstance(self.name, str) and SCENARIO_NAME.fullmatch(self.name) is not None, "name", self.name,
              "a plain name of letters, digits, '.', '_' and '-' (up to 100, not starting with '.'): "
              "it names the output folder out/<name>")
        for name, listed in (("job_methods", self.job_methods), ("methods", self.methods)):  # job_methods first:
            unknown = [m for m in listed if m not in METHODS]  # the methods derived from them come after
            close = [match for m in unknown for match in difflib.get_close_matches(str(m), METHODS, 1)]
            _need((len(listed) > 0 or name == "job_methods") and not unknown, name, list(listed),
                  ("one method per job, each" if name == "job_methods" else "a non-empty list")
                  + f" drawn from {METHODS}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        _positive("max_time_s", self.max_time_s, MAX_TIME_LIMIT_S)
        computing = self.workload.compute_s * self.workload.iterations
        _need(computing < self.max_time_s, "max_time_s", self.max_time_s,
              f"> workload.compute_s x workload.iterations = {computing:g} s (the compute phases alone take that "
              "long, so the run could never finish)")
        bits, k = self.workload.element_bits, self.switchml.elements_per_packet
        allowed = spec.supported_elements_per_packet(bits)
        _need(k == 0 or k in allowed, "switchml.elements_per_packet", k,
              f"0 (automatic) or one of {allowed} with workload.element_bits = {bits}")
        if self.job_methods:
            self._check_job_methods()
            self._check_switchml_trees([j for j, m in enumerate(self.job_methods) if collective(m).is_switch],
                                       "job_methods", list(self.job_methods))
            switchml_jobs = sum(collective(m).is_switch for m in self.job_methods)
            needed = self.switchml.window * switchml_jobs
            _need(needed <= self.switch.slots, "switch.slots", self.switch.slots,
                  f">= switchml.window x SwitchML jobs = {needed} (each SwitchML job is allotted window slots)")
        else:
            needed = self.switchml.window * self.topology.job_count
            _need(needed <= self.switch.slots, "switch.slots", self.switch.slots,
                  f">= switchml.window x jobs = {needed} (each job's workers use window slots)")
            if any(collective(m).is_switch for m in self.methods):
                self._check_switchml_trees(range(self.topology.job_count), "methods", list(self.methods))

    def _check_switchml_trees(self, jobs, field: str, value: list) -> None:
        """The SwitchML ``jobs``' aggregation trees share no link (a worker-table row is per job)."""
        shape = self.topology.shape
        aggregating: dict[tuple[int, int], int] = {}  # (child node, switch) -> the SwitchML job using that link
        for job in jobs:
            for switch, children in shape.jobs[job].children.items():
                for child in children:
                    other = aggregating.setdefault((child, switch), job)
                    _need(other == job, field, value,
                          f"SwitchML jobs whose aggregation trees share no link; jobs {other} and {job} both "
                          f"aggregate over the link into {shape.switches[switch].name} (a job's tree climbs to "
                          "parent number job mod parents: give SwitchML to jobs that differ there, or use "
                          'topology.placement = "blocks")')

    def _check_job_methods(self) -> None:
        jobs = self.topology.job_count
        _need(len(self.job_methods) == jobs, "job_methods", list(self.job_methods),
              f"one method per job: {jobs} (topology.jobs), in job order")
        _need(self.workload.source == "synthetic", "job_methods", list(self.job_methods),
              'jobs sharing a fabric with [workload] source = "synthetic" (every value generated and checked '
              f'per packet); this scenario has source = "{self.workload.source}"')
        _need(tuple(self.methods) == tuple(dict.fromkeys(self.job_methods)), "methods", list(self.methods),
              f"the distinct job_methods in order, {list(dict.fromkeys(self.job_methods))}, or left out "
              "(with job_methods every job runs its own method at once)")

    @property
    def built_topology(self) -> Topology:
        """The simulated network: ``topology``'s builder with this scenario's link rates, delays and queues."""
        return build_topology(self.topology, self.link)

    @property
    def element_bits(self) -> int:
        """Bits of each integer element on the wire (workload.element_bits)."""
        return self.workload.element_bits

    @property
    def elements_per_packet(self) -> int:
        """k in use: switchml.elements_per_packet, or the 256-byte payload at element_bits when it is 0."""
        k = self.switchml.elements_per_packet
        return k or spec.supported_elements_per_packet(self.workload.element_bits)[0]


_SECTIONS = {
    "topology": TopologyConfig,
    "link": LinkConfig,
    "switch": SwitchConfigSection,
    "switchml": SwitchMLConfig,
    "host": HostConfig,
    "workload": WorkloadConfig,
    "baselines": BaselineConfig,
    "simulator": SimulatorConfig,
    "sweep": SweepConfig,
}


def _typed(name: str, default: Any, value: Any) -> Any:
    """``value`` in the type of the field's ``default`` (int -> float, list -> tuple), or a `ScenarioError`."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        value = tuple(value)
    if default is not MISSING and type(default) is not type(value):
        raise ScenarioError(f"{name} = {value!r} has the wrong type: expected {type(default).__name__}")
    return value


def _coerce(section: str, cls: type, table: dict) -> Any:
    if not isinstance(table, dict):
        raise ScenarioError(f"[{section}] must be a table, got {table!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ScenarioError(f"[{section}] has unknown keys {unknown}; known keys: {sorted(known)}")
    if section == "topology":
        kind = table.get("kind", TopologyConfig.kind)
        if kind in BUILDERS:
            unread = sorted(set(table) - {"kind", *BUILDERS[kind].parameters})
            if unread:
                raise ScenarioError(f"topology.{unread[0]} is not read by kind = {kind!r}; it reads "
                                    f"{list(BUILDERS[kind].parameters)}")
    values = {}
    for name, value in table.items():
        if section == "sweep" and name == "grid" and isinstance(value, dict):
            value = tuple((axis, tuple(v) if isinstance(v, list) else v) for axis, v in value.items())
        values[name] = _typed(f"{section}.{name}", known[name].default, value)
    return cls(**values)


def scenario_from_dict(document: dict) -> Scenario:
    """A validated `Scenario` from a parsed TOML document."""
    top = {k: v for k, v in document.items() if k not in _SECTIONS}
    allowed = {"name", "seed", "methods", "max_time_s", "job_methods"}
    unknown = sorted(set(top) - allowed)
    if unknown:
        raise ScenarioError(f"unknown top-level keys {unknown}; known: {sorted(allowed | set(_SECTIONS))}")
    sections = {name: _coerce(name, cls, document.get(name, {})) for name, cls in _SECTIONS.items()}
    if "methods" in top:
        if not isinstance(top["methods"], list):
            raise ScenarioError(f"methods = {top['methods']!r} must be a list of strings from {METHODS}")
        top["methods"] = tuple(top["methods"])
    if "job_methods" in top:
        if not isinstance(top["job_methods"], list) or not all(isinstance(m, str) for m in top["job_methods"]):
            raise ScenarioError(f"job_methods = {top['job_methods']!r} must be a list of strings from {METHODS}, "
                                "one per job")
        top["job_methods"] = tuple(top["job_methods"])
        top.setdefault("methods", tuple(dict.fromkeys(top["job_methods"])))
    if "max_time_s" in top and isinstance(top["max_time_s"], int) and not isinstance(top["max_time_s"], bool):
        top["max_time_s"] = float(top["max_time_s"])
    scenario = Scenario(**top, **sections)
    for axis, values in scenario.sweep.axes:  # every swept value must make a valid scenario
        for value in values:
            try:
                with_override(scenario, axis, value)
            except ScenarioError as error:
                raise ScenarioError(f"[sweep] {axis} = {value!r}: {error}") from None
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises:
        ScenarioError: naming the file and the offending field.
        FileNotFoundError: when the file does not exist.
        switchsim.paths.PathError: when the path is a folder or the file is not UTF-8 (naming the file).
    """
    path = Path(path)
    text = read_text(path, "scenario")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML: {error}") from None
    try:
        return scenario_from_dict(document)
    except ScenarioError as error:
        raise ScenarioError(f"{path}: {error}") from None


#: The shipped scenarios/ folder (package data of an installed switchsim, or the checkout's folder).
SCENARIOS_DIR = scenarios_dir()


def builtin_scenario(name: str) -> Path:
    """Path of a shipped scenario (``quickstart`` and friends), from `switchsim.resources.scenarios_dir`."""
    path = SCENARIOS_DIR / f"{name}.toml"
    if not path.exists():
        shipped = sorted(p.stem for p in SCENARIOS_DIR.glob("*.toml"))
        raise FileNotFoundError(f"no scenario {name!r} in {SCENARIOS_DIR}; shipped: {shipped}")
    return path


def find_scenario(given: str | Path | None) -> Path:
    """The scenario file a command names: the path as given when it exists, else a shipped scenario.

    ``None`` is the default job (``quickstart``). A path that does not exist
    but names a shipped scenario, as the README's commands do
    (``scenarios/paper-10g.toml``) or by its bare name (``paper-10g``), is the
    shipped file, so the commands work from any folder with an installed
    switchsim.

    Raises:
        FileNotFoundError: naming the path and the shipped scenarios.
    """
    if given is None:
        return builtin_scenario("quickstart")
    path = Path(given)
    if path.exists():
        return path
    shipped = SCENARIOS_DIR / f"{path.stem}.toml"
    if path.suffix in ("", ".toml") and str(path.parent) in (".", "scenarios") and shipped.exists():
        return shipped
    names = sorted(p.stem for p in SCENARIOS_DIR.glob("*.toml"))
    raise FileNotFoundError(f"no scenario file {str(path)!r}; the shipped scenarios (by name or as "
                            f"scenarios/NAME.toml) are {names}")


def with_override(scenario: Scenario, dotted: str, value: Any) -> Scenario:
    """A copy of ``scenario`` with ``section.field`` (or a top-level field) set to ``value``, re-validated.

    The value must have the field's type, as in a scenario file (an int where a
    float is expected is taken). ``methods`` takes a list, or one string of
    methods joined by "+" (``"switchml+ring"``).

    Example:
        >>> with_override(Scenario(), "link.loss", 0.01).link.loss
        0.01
        >>> with_override(Scenario(), "methods", "ring").methods
        ('ring',)
    """
    parts = dotted.split(".")
    if len(parts) == 1:
        if parts[0] not in {f.name for f in fields(Scenario)} or parts[0] in _SECTIONS:
            raise ScenarioError(f"--param {dotted!r}: not a scenario field")
        if parts[0] == "methods" and isinstance(value, str):
            value = tuple(value.split("+"))
        default = next(f.default for f in fields(Scenario) if f.name == parts[0])
        if parts[0] == "methods" and isinstance(value, list | tuple):
            value = tuple(value)
        else:
            value = _typed(dotted, default, value)
        return replace(scenario, **{parts[0]: value})
    if len(parts) != 2 or parts[0] not in _SECTIONS or parts[0] == "sweep":
        raise ScenarioError(f"--param {dotted!r}: use SECTION.FIELD with a section from {sorted(_SECTIONS)}")
    section = getattr(scenario, parts[0])
    known = {f.name: f for f in fields(section)}
    if parts[1] not in known:
        raise ScenarioError(f"--param {dotted!r}: [{parts[0]}] has no field {parts[1]!r}")
    value = _typed(dotted, known[parts[1]].default, value)
    return replace(scenario, **{parts[0]: replace(section, **{parts[1]: value})})
