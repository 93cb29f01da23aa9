"""The SimPy engine: SimPy keeps the calendar; every event is `switchsim.sim.handlers.handle_event`.

Each scheduled event is one SimPy timeout whose callback handles it and
schedules its consequences as new timeouts, in the order the handler wrote
them. SimPy processes events by time, then by scheduling order, which is the
``(time, sequence)`` order the fast engine's heap keeps: the two engines
handle the same events in the same order and give the same results. This
engine is the readable reference (and SimPy's calendar a check on the fast
engine's); it runs at SimPy's pace, about 10^5 events per second.
"""

from __future__ import annotations

import numba
import numpy as np
import simpy
from simpy.core import StopSimulation

from switchsim.sim import handlers as h
from switchsim.sim.fast_engine import initial_events, state_event_buffer
from switchsim.sim.state import grow_buffers, needs_more_buffers


def compiled_handler(state: h.SimState, out: np.ndarray):
    """`handlers.handle_one_event`'s compiled entry point for this state's types.

    Calling the entry point skips numba's per-call type dispatch over the
    state's ~40 arrays (about 3 us instead of 11 us a call). Loading it runs
    one harmless event: a timer of host 0 at a time it was not set for.
    """
    probe = (state, -1, h.TIMER, 0, 0, -1, 0, out)
    h.handle_one_event(*probe)
    return h.handle_one_event.overloads[tuple(numba.typeof(value) for value in probe)].entry_point


def run(state: h.SimState, max_time: int, progress=None, every: int = 200_000):
    """Run to completion or ``max_time`` (ps); returns ``(state, completed, end time in ps, events)``.

    ``progress(now_ps, results)`` (results accepted so far) is called every ``every`` events.
    """
    env = simpy.Environment()
    out = state_event_buffer(state)
    handle = compiled_handler(state, out)
    counters = state.counters
    box = [state, 0]  # the state (replaced when its buffer pool grows) and events handled

    def schedule(rows: np.ndarray) -> None:
        now = env.now
        for time, kind, target, header, channel, payload in rows.tolist():
            env.timeout(time - now, (kind, target, header, channel, payload)).callbacks.append(fire)

    def fire(event: simpy.Event) -> None:
        if needs_more_buffers(box[0]):
            box[0] = grow_buffers(box[0])
        kind, target, header, channel, payload = event.value
        count = handle(box[0], env.now, kind, target, header, channel, payload, out)
        box[1] += 1
        if progress is not None and box[1] % every == 0:
            progress(env.now, int(counters[h.G_CHECKED_PACKETS]))
        if counters[h.G_HOSTS_REMAINING] == 0:
            raise StopSimulation(env.now)
        schedule(out[:count])

    schedule(initial_events(state))
    env.run(until=max_time + 1)  # handles every event at or before max_time
    completed = bool(counters[h.G_HOSTS_REMAINING] == 0)
    if progress is not None:
        progress(env.now, int(counters[h.G_CHECKED_PACKETS]))
    return box[0], completed, int(env.now) if completed else max_time, box[1]
