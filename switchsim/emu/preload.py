"""What the emulator's forkserver loads once, before it forks any worker or switch process.

Importing this module runs one tiny all-reduce in memory: a worker
(`workers.client.run_worker`) through the emulator switch's logic
(`switchsim.emu.datagram_switch.DatagramSwitch`), without sockets. That loads
every compiled (numba) function a worker and the switch call, so each process
forked from the forkserver starts with them loaded. Without it every worker
loaded them itself after "go": on 2 cores, 16 workers spent seconds doing so
(within a 5 s ``--max-wall`` they never sent a packet).
"""

from __future__ import annotations

import numpy as np

from switchsim.emu import run as _run  # noqa: F401  (the workers' and the switch's code)
from switchsim.emu.datagram_switch import DatagramSwitch, ServerConfig
from switchsim.protocol import codec
from workers.client import TransportStats, run_worker
from workers.protocol import WorkerConfig

_WORKER = ("127.0.0.1", 9)
_SWITCH = ("127.0.0.1", 10)


class _InMemoryTransport:
    """A `workers.client.Transport` whose sends go straight through a `DatagramSwitch`."""

    def __init__(self, switch: DatagramSwitch) -> None:
        self.switch = switch
        self.replies: list[bytes] = []
        self.stats = TransportStats()

    def encode(self, messages: codec.Messages) -> np.ndarray:
        return codec.encode_messages(messages)

    def send(self, packet: memoryview) -> None:
        self.replies += [payload for payload, _ in self.switch.handle_batch([(bytes(packet), _WORKER)])]

    def receive(self, timeout_s: float) -> list[bytes]:
        replies, self.replies = self.replies, []
        return replies

    def close(self) -> None:
        pass


def warm_up() -> None:
    """One 2-packet all-reduce of one worker, in memory, on both pipelines (faithful and hardened)."""
    for hardened in (False, True):
        switch = DatagramSwitch(ServerConfig(workers=(_WORKER,), port=_SWITCH[1], slots=2, hardened=hardened))
        config = WorkerConfig(worker_id=0, num_workers=1, window=2, elements_per_packet=64, timeout_s=0.05)
        run_worker(config, np.arange(128, dtype=np.int32), _InMemoryTransport(switch), max_wall_s=10.0)


warm_up()
