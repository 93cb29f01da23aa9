"""The bmv2 runner's own machinery, without bmv2: the frame-level model stands in for simple_switch.

Same network namespace, veth pairs, AF_PACKET taps, replay and byte-for-byte
comparison as the real conformance test; only the switch process differs.
Needs root (namespace, veth, AF_PACKET); skipped otherwise. Traffic stays on
veth pairs inside a namespace this test creates and deletes.
"""

import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from switchsim.conformance import vectors
from switchsim.frame_switch import WorkerEntry
from switchsim.p4gen import bmv2_runner
from switchsim.p4gen.controller import Bmv2Job
from switchsim.pipeline import wrapped_sum
from workers.client import RawEthernetTransport, RawTarget, make_tensor, run_worker
from workers.protocol import WorkerConfig

pytestmark = pytest.mark.network

# The stand-in: FrameSwitch on the switch ends; "stats" on stdin prints the pipeline counters.
STANDIN = """
import json, select, socket, sys
from switchsim.frame_switch import FrameSwitch, SwitchAddress, WorkerEntry
from switchsim.pipeline import SwitchConfig
cfg = json.loads(sys.argv[1])
switch = FrameSwitch(SwitchConfig(slots=cfg["slots"]), [WorkerEntry(**w) for w in cfg["workers"]],
                     SwitchAddress(**cfg["switch"]))
import numpy as np
from switchsim.pipeline import Pipeline
Pipeline(SwitchConfig(slots=1)).process(0, 1, 0, 0, 0, 0, np.zeros(2, np.int8), np.zeros(64, np.int32))  # JIT now
ports = []
for name in sys.argv[2:]:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    sock.bind((name, 0))
    ports.append(sock)
print("ready", flush=True)
while True:
    readable, _, _ = select.select([*ports, sys.stdin], [], [])
    for sock in readable:
        if sock is sys.stdin:
            if not sys.stdin.readline():
                sys.exit(0)
            print(json.dumps(switch.pipeline.counters()), flush=True)
            continue
        frame, address = sock.recvfrom(4096)
        if address[2] != 4:  # not our own output
            for out in switch.process_frame(ports.index(sock), frame):
                ports[out.egress_port].send(out.frame)
"""


class ModelSwitch(bmv2_runner.Bmv2Switch):
    """`Bmv2Switch` with `switchsim.frame_switch.FrameSwitch` in place of simple_switch."""

    def _start_switch(self):
        self.process = None

    def configure(self, job):
        self._stop_model()
        config = {"slots": len(job.slots), "switch": {"mac": job.switch.mac, "ip": job.switch.ip},
                  "workers": [{"worker_id": w.worker_id, "mac": w.mac, "ip": w.ip, "port": w.port} for w in job.workers]}
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.plan.namespace, sys.executable, "-c", STANDIN, json.dumps(config),
             *self.plan.switch_ends], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def stats(self, job):
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def _stop_model(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(10)
            self.process.stdout.close()
            self.process = None

    def close(self):
        if self.process is not None:
            self.process.kill()
            self._stop_model()
        super().close()


def _require_root_networking():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to build a network namespace with veth pairs")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot use network namespaces here: {probe.stderr.decode().strip()}")


def _subset(names):
    document = vectors.load()
    return {**document, "scenarios": [s for s in document["scenarios"] if s["name"] in names]}


def test_replay_over_veth_pairs_matches_the_vectors():
    _require_root_networking()
    names = {"basic_reduction/3w/k64", "different_udp_ports/2w/k64", "non_switchml_forwarded/3w/k64",
             "malformed_dropped/2w/k64", "basic_reduction/3w/k64/hardened"}
    tools = bmv2_runner.Bmv2Tools("unused", "unused", "unused")
    with ModelSwitch(tools, "unused.json", ports=3, tag=f"t{os.getpid() % 0xFFF:03x}") as switch:
        report = bmv2_runner.replay(_subset(names), switch, wait_s=2.0, quiet_s=0.05)
    assert report.mismatches == []
    assert report.scenarios == 4 and report.skipped == []  # the hardened scenario is for the hardened build
    assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.count(
        switch.plan.namespace) == 0


def test_replay_catches_a_switch_that_corrupts_a_byte(monkeypatch):
    _require_root_networking()
    monkeypatch.setattr(sys.modules[__name__], "STANDIN",
                        STANDIN.replace("ports[out.egress_port].send(out.frame)",
                                        "ports[out.egress_port].send(out.frame[:-1] + bytes([out.frame[-1] ^ 1]))"))
    tools = bmv2_runner.Bmv2Tools("unused", "unused", "unused")
    with ModelSwitch(tools, "unused.json", ports=3, tag=f"u{os.getpid() % 0xFFF:03x}") as switch:
        report = bmv2_runner.replay(_subset({"basic_reduction/2w/k64"}), switch, wait_s=2.0, quiet_s=0.05)
    assert report.mismatches == ["basic_reduction/2w/k64 step 1: expected port 0 (308 B), port 1 (308 B), got "
                                 "port 0 (308 B), port 1 (308 B); port 0 first differs at byte 307"]


def test_raw_ethernet_workers_over_veth_pairs():
    """workers.client's AF_PACKET path end to end: two raw workers on the host ends, the model behind them."""
    _require_root_networking()
    n, elements, window = 2, 64 * 40 + 3, 8
    entries = tuple(WorkerEntry(w, f"02:00:00:00:00:{w + 1:02x}", f"10.0.0.{w + 1}", w) for w in range(n))
    job = Bmv2Job(entries, slots=range(window), program_slots=window)
    runs = [None] * n
    tools = bmv2_runner.Bmv2Tools("unused", "unused", "unused")
    with ModelSwitch(tools, "unused.json", ports=n, tag=f"r{os.getpid() % 0xFFF:03x}") as switch:
        switch.configure(job)
        transports = [RawEthernetTransport(RawTarget(switch.plan.host_ends[w], entries[w].mac, entries[w].ip), 64)
                      for w in range(n)]

        def worker(w):
            config = WorkerConfig(worker_id=w, num_workers=n, window=window, timeout_s=0.05)
            runs[w] = run_worker(config, make_tensor(5, w, elements), transports[w], loss=0.05,
                                 rng=np.random.default_rng(w), max_wall_s=30.0)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40.0)
        counters = switch.stats(job)
        for transport in transports:
            transport.close()
    expected = wrapped_sum(np.stack([make_tensor(5, w, elements) for w in range(n)]))
    for run in runs:
        assert run.completed
        np.testing.assert_array_equal(run.result, expected)
    assert counters["broadcast"] == 41
