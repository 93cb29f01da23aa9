"""A run whose buffers or send queues would outgrow the machine stops as "did not finish (out of memory...)",
with its other methods' results kept, instead of being killed by the kernel without a word (fat-tree-oversubscribed
with every method was, at 24 GB)."""

from __future__ import annotations

import pytest

from switchsim.config import scenario_from_dict
from switchsim.outcome import EXIT_DID_NOT_FINISH, describe, exit_status, outcome
from switchsim.sim import handlers as h
from switchsim.sim import memory, transport
from switchsim.sim.collective_method import build_state, run_collective
from switchsim.sim.state import MemoryLimitError, grow_buffers, needs_more_buffers


def incast(**link):
    """One parameter server taking an 8-way incast through a small queue: tail drops, go-back-N, long backlogs."""
    return scenario_from_dict({"methods": ["ps"], "topology": {"workers": 8},
                               "link": {"queue_bytes": 20_000, **link},
                               "workload": {"elements": 200_000, "source": "synthetic"}})


def test_growing_send_queues_past_what_is_available_raises_naming_them():
    scenario = incast()
    _, state = build_state("ps", scenario, None, scenario.workload.elements)
    state.counters[h.G_SEND_BACKLOG_PEAK] = state.flow_send.shape[1]  # as if a flow's backlog filled its queue
    assert needs_more_buffers(state)
    with pytest.raises(MemoryLimitError, match=r"out of memory: the send queues of 16 flows .* GiB available"):
        grow_buffers(state, available=1000)
    grown = grow_buffers(state, available=1 << 40)
    assert grown.flow_send.shape[1] == 2 * state.flow_send.shape[1]


def whole_steps():
    """A hierarchical ring whose in-rack steps (544 packets) outgrow the first send queues (128 slots): a rank
    holds what arrives while it sends its own step, credits or not. (The parameter server's incast, used here
    before, no longer grows its queues: credits hold the pushes to the pulls' pace.)"""
    return scenario_from_dict({"methods": ["hierarchical-ring"],
                               "topology": {"kind": "two_level", "workers": 2, "racks": 4},
                               "workload": {"elements": 400_000, "source": "synthetic"}})


@pytest.mark.parametrize("engine", ["fast", "simpy"])
def test_a_run_that_would_outgrow_the_machine_does_not_finish_and_says_why(engine, monkeypatch):
    scenario = whole_steps()
    _, state = build_state("hierarchical-ring", scenario, None, scenario.workload.elements)
    assert state.flows[:, transport.F_DEPENDENT_FROM].max() > state.flow_send.shape[1]  # a step outgrows the queue
    roomy, _ = run_collective("hierarchical-ring", scenario, None, engine=engine)
    assert roomy.completed and roomy.correct  # it grows its queues, and finishes
    monkeypatch.setattr(memory, "available_bytes", lambda: 1)  # a machine with no memory to spare
    result, _ = run_collective("hierarchical-ring", scenario, None, engine=engine)
    assert not result.completed and result.correct is None
    assert result.stopped_by.startswith("out of memory: ")
    assert 0 < result.time_s < roomy.time_s  # how far it got
    assert describe(result.completed, result.correct, result.stopped_by).startswith("did not finish (out of memory")
    assert exit_status([outcome(result.completed, result.correct)]) == EXIT_DID_NOT_FINISH
