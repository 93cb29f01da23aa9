"""Integer sums through a real switch: each rank a SwitchML worker (`workers.protocol`, `workers.client`).

`connect(aggregation, rank, world_size, group, address)` returns a `SwitchSum`
whose `SwitchSum.sum` all-reduces one bucket's int32 integers with
`workers.client.run_worker` (the project's one worker protocol) and calls
``finish`` on the result; it returns a ``torch.futures.Future``.

* ``"switch"``: UDP datagrams to the emulator switch
  (`switchsim.emu.switch_server.SwitchProcess`). Every rank binds a UDP socket
  on 127.0.0.1 (or ``host``) and the addresses are exchanged with
  ``all_gather_object`` on the process group; rank 0 starts the switch with
  that registration table and broadcasts its address. With ``address`` given,
  the switch is one the user started (``switchsim serve``, which registers the
  workers' ports given on its command line: ``--worker-port-base``).
* ``"bmv2"``: Ethernet frames to the P4 program in ``simple_switch``
  (`switchsim.p4gen.bmv2_runner.Bmv2Switch`, one veth pair per rank); rank 0
  compiles and starts it and installs the job. Needs root and the P4
  toolchain on ``PATH``; the ranks must run on the host that holds the veths.

Buckets go through the switch one at a time, in the order DDP hands them over,
on one thread per rank (as DDP's one communication stream): the backward pass
continues while a bucket is in flight. Consecutive all-reduces reuse the
same slots; each starts at the pool-index shift the previous left
(`workers.protocol.next_shift`), the same on every rank because every rank
sends the same bucket sizes in the same order.
"""

from __future__ import annotations

import concurrent.futures
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from workers.client import UdpTransport, run_worker
from workers.protocol import WorkerConfig, next_shift

#: Elements per packet (int32): SwitchML's k.
ELEMENTS_PER_PACKET = 64


class SwitchSum:
    """One rank's SwitchML worker for the hook: sums buckets through the switch behind ``transport``.

    Args:
        transport: `workers.client.UdpTransport` or `workers.client.RawEthernetTransport`.
        rank, world_size: the worker id and n.
        window: W, outstanding packets (the switch's slots).
        timeout_s: the worker protocol's initial retransmission timeout (seconds).
        max_wall_s: a bucket that has not completed after this long fails the step (RuntimeError).
        job_number: the SwitchML job number (0..255).
        owned: what to stop on `close` (the switch process rank 0 started, a bmv2 switch).
    """

    def __init__(self, transport, rank: int, world_size: int, *, window: int, timeout_s: float, max_wall_s: float,
                 job_number: int = 0, owned: list | None = None) -> None:
        self.transport = transport
        self.rank = rank
        self.world_size = world_size
        self.window = window
        self.timeout_s = timeout_s
        self.max_wall_s = max_wall_s
        self.job_number = job_number
        self.shift = 0
        self.owned = owned or []
        self.elements_sent = 0
        self.retransmissions = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchsim-worker")

    def _all_reduce(self, integers: np.ndarray) -> np.ndarray:
        config = WorkerConfig(worker_id=self.rank, num_workers=self.world_size, window=self.window,
                              elements_per_packet=ELEMENTS_PER_PACKET, job_number=self.job_number, shift=self.shift,
                              timeout_s=self.timeout_s)
        run = run_worker(config, integers, self.transport, max_wall_s=self.max_wall_s)
        self.shift = next_shift(self.shift, max(1, math.ceil(integers.size / ELEMENTS_PER_PACKET)), self.window)
        if not run.completed:
            raise RuntimeError(f"rank {self.rank}: the switch all-reduce of {integers.size} elements did not finish "
                               f"within {self.max_wall_s} s ({run.stats.retransmissions} retransmissions): "
                               "infrastructure failure, not a wrong sum")
        self.elements_sent += integers.size
        self.retransmissions += run.stats.retransmissions
        return run.result

    def sum(self, integers: torch.Tensor, finish: Callable[[torch.Tensor], torch.Tensor]) -> torch.futures.Future:
        """Sum ``integers`` (int32) over the ranks through the switch, then ``finish(sum)``, as a future."""
        values = np.ascontiguousarray(integers.numpy(), np.int32)
        future: torch.futures.Future = torch.futures.Future()

        def work() -> None:
            try:
                future.set_result(finish(torch.from_numpy(self._all_reduce(values))))
            except Exception as error:
                future.set_exception(error)

        self._executor.submit(work)
        return future

    def sum_now(self, integers: np.ndarray) -> np.ndarray:
        """The switch's int32 sum of ``integers`` over the ranks, in the calling thread (tests, benchmarks)."""
        return self._executor.submit(self._all_reduce, np.ascontiguousarray(integers, np.int32)).result()

    def close(self) -> None:
        """Finish in-flight buckets, close the socket, stop what this rank started."""
        self._executor.shutdown(wait=True)
        self.transport.close()
        for thing in reversed(self.owned):
            thing()
        self.owned = []


def _endpoint(address: tuple[str, int] | str) -> tuple[str, int]:
    if isinstance(address, str):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"switch_address must be 'HOST:PORT' or (host, port), got {address!r}")
        return host, int(port)
    return str(address[0]), int(address[1])


def connect(aggregation: str, rank: int, world_size: int, group=None, address: tuple[str, int] | str | None = None,
            *, host: str = "127.0.0.1", window: int | None = None, timeout_s: float | None = None,
            max_wall_s: float = 60.0, job_number: int = 0, worker_port_base: int | None = None) -> SwitchSum:
    """Make this rank a SwitchML worker of the job (collective: every rank calls it).

    Args:
        aggregation: ``"switch"`` (UDP emulator switch) or ``"bmv2"``.
        rank, world_size, group: the process group (n <= 32, SwitchML's bitmap).
        address: a running switch (``"switch"`` only); None: rank 0 starts one.
        host: address the workers' UDP sockets bind ("switch").
        window, timeout_s: the worker protocol's W and initial timeout (defaults: 64 and 5 ms for the UDP
            switch; bmv2's 16 and 0.3 s, `switchsim.emu.bmv2_target`).
        max_wall_s: per bucket bound (seconds).
        job_number: SwitchML job number.
        worker_port_base: bind rank r's socket to this port + r (to meet a ``switchsim serve`` registration table).
    """
    if world_size > 32:
        raise ValueError(f"aggregation {aggregation!r} needs world_size <= 32 (SwitchML's worker bitmap), "
                         f"got {world_size}")
    if aggregation == "bmv2":
        return _connect_bmv2(rank, world_size, group, window=window or 16, timeout_s=timeout_s or 0.3,
                             max_wall_s=max_wall_s)
    from switchsim.emu.switch_server import ServerConfig, SwitchProcess

    window = window or 64
    port = 0 if worker_port_base is None else worker_port_base + rank
    transport = UdpTransport(("127.0.0.1", 1), ELEMENTS_PER_PACKET, bind=(host, port))
    workers: list = [None] * world_size
    dist.all_gather_object(workers, transport.address, group=group)
    owned: list = []
    error = None
    if address is None:
        if rank == 0:
            try:
                import multiprocessing

                switch = SwitchProcess(ServerConfig(workers=tuple(workers), job_number=job_number, host=host,
                                                    port=None, slots=window, elements_per_packet=ELEMENTS_PER_PACKET),
                                       multiprocessing.get_context("spawn"))
                address = switch.start()
                owned.append(switch.stop)
            except Exception as failure:
                error = f"rank 0 could not start the switch: {failure}"
        shared = [(address, error)]
        dist.broadcast_object_list(shared, src=0, group=group)
        address, error = shared[0]
    if error:
        transport.close()
        raise RuntimeError(error)
    transport.switch = _endpoint(address)
    return SwitchSum(transport, rank, world_size, window=window, timeout_s=timeout_s or 0.005,
                     max_wall_s=max_wall_s, job_number=job_number, owned=owned)


def _connect_bmv2(rank: int, world_size: int, group, *, window: int, timeout_s: float, max_wall_s: float) -> SwitchSum:
    """bmv2: rank 0 compiles the program, starts simple_switch on veth pairs and installs the job."""
    import json

    from switchsim.frame_switch import worker_entries
    from switchsim.p4gen import bmv2_runner
    from switchsim.p4gen.controller import Bmv2Job
    from workers.client import RawEthernetTransport, RawTarget

    owned: list = []
    shared: list = [None]
    entries = tuple(worker_entries(world_size))
    if rank == 0:
        reason = bmv2_runner.can_run_bmv2()
        if reason:
            shared = [("error", f"cannot run bmv2: {reason} (docs/bmv2.md)")]
        else:
            try:
                tools, _ = bmv2_runner.find_tools()
                build = tempfile.TemporaryDirectory(prefix="switchsim-torch-bmv2-")
                program = bmv2_runner.compile_program(tools.compiler, Path(build.name), slots=window)
                slots = next(r["size"] for r in json.loads(Path(program).read_text())["register_arrays"]) // 2
                switch = bmv2_runner.Bmv2Switch(tools, Path(program), ports=world_size)
                switch.__enter__()
                owned.extend([build.cleanup, lambda: switch.__exit__(None, None, None)])
                switch.configure(Bmv2Job(entries, slots=range(window), program_slots=slots))
                switch.drain()
                shared = [("ok", list(switch.plan.host_ends))]
            except Exception as failure:
                shared = [("error", f"rank 0 could not start bmv2: {failure}")]
                for thing in reversed(owned):
                    thing()
                owned = []
    dist.broadcast_object_list(shared, src=0, group=group)
    kind, detail = shared[0]
    if kind != "ok":
        raise RuntimeError(detail)
    entry = entries[rank]
    transport = RawEthernetTransport(RawTarget(detail[rank], entry.mac, entry.ip), ELEMENTS_PER_PACKET)
    dist.barrier(group=group)
    return SwitchSum(transport, rank, world_size, window=window, timeout_s=timeout_s, max_wall_s=max_wall_s,
                     owned=owned)
