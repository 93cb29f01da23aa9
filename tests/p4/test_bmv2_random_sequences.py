"""bmv2 against the model on random packet sequences, both builds: every frame out equal, byte for byte.

The conformance vectors are hand-built scenarios; here 3 workers send 250
random requests (random slot of 2, set and values; packet ids around byte
boundaries of the little-endian tsi, mostly each set's current chunk, some
late duplicates, some random; now and then an older job), so busy, idle,
stale, duplicate and cross-job paths all occur. The model
(`FrameSwitch`, hardened mode = `HARDENED_PACKET_ID`) writes the expected
frames; bmv2 must emit exactly those.
"""

import numpy as np
import pytest

from switchsim.conformance import vectors
from switchsim.frame_switch import FrameSwitch
from switchsim.p4gen import bmv2_runner
from switchsim.pipeline import SwitchConfig
from switchsim.pipeline.process import FAITHFUL, HARDENED_PACKET_ID

pytestmark = [pytest.mark.p4c, pytest.mark.bmv2]


def random_scenario(seed: int, hardened: bool, steps: int = 250) -> dict:
    """Random requests that still look like a job: each (slot, set) has a current chunk that advances when it
    completes; most requests are for it, some repeat the previous one (late duplicates), some are random."""
    rng = np.random.default_rng(seed)
    workers = vectors.worker_entries(3)
    switch = FrameSwitch(SwitchConfig(slots=vectors.SLOTS, hardened=HARDENED_PACKET_ID if hardened else FAITHFUL),
                         workers, vectors.SWITCH)
    current = {(slot, pool_set): 0 for slot in range(2) for pool_set in range(2)}
    records = []
    for step in range(steps):
        w, slot, pool_set = (int(x) for x in (rng.integers(3), rng.integers(2), rng.integers(2)))
        draw = rng.random()
        index = current[slot, pool_set]
        if draw < 0.15:
            index = max(0, index - 1)
        elif draw > 0.9:
            index = int(rng.integers(index + 1))  # any older chunk (a very late duplicate)
        packet = 0x7F + 0x40 * pool_set + 0x80 * index  # chunk ids cross the tsi's byte boundaries
        job = 0 if step > 50 and rng.random() < 0.03 else 1  # now and then a request of an older job
        values = rng.integers(-2**31, 2**31 - 1, size=64, endpoint=True, dtype=np.int64).astype(np.int32)
        send = vectors.Send(w, slot, pool_set, vectors.official_tsi(packet), values, exponents=(w, -w),
                            job_number=job)
        frame = vectors.request_frame(send, workers, 64)
        outputs = switch.process_frame(w, frame)
        if any(o.kind == "multicast" for o in outputs):
            current[slot, pool_set] += 1
        records.append({"ingress_port": w, "frame": frame.hex(),
                        "expect": [{"kind": o.kind, "egress_port": o.egress_port, "worker_id": o.worker_id,
                                    "frame": o.frame.hex()} for o in outputs]})
    return {"name": f"random/{seed}" + ("/hardened" if hardened else ""),
            "switch": {"slots": vectors.SLOTS, "elements_per_packet": 64, "hardened": hardened,
                       "mac": vectors.SWITCH.mac, "ip": vectors.SWITCH.ip},
            "workers": [{"worker_id": e.worker_id, "mac": e.mac, "ip": e.ip, "port": e.port} for e in workers],
            "steps": records, "final_counters": switch.pipeline.counters()}


@pytest.mark.parametrize("hardened", [False, True], ids=["faithful", "hardened"])
def test_random_sequences_equal_the_model(bmv2_tools, bmv2_programs, bmv2_can_run, hardened):
    document = {"scenarios": [random_scenario(seed, hardened) for seed in (1, 2)]}
    counters = [s["final_counters"] for s in document["scenarios"]]
    assert all(c["broadcast"] > 5 and c["retransmit"] > 0 for c in counters)  # the sequences reach every path
    if hardened:
        assert all(c["stale"] > 10 for c in counters)
    with bmv2_runner.Bmv2Switch(bmv2_tools, bmv2_programs[hardened], ports=3) as switch:
        report = bmv2_runner.replay(document, switch, hardened=hardened, quiet_s=0.01)
    assert report.mismatches == [] and report.scenarios == 2
