"""The fast engine: the whole event loop compiled with numba, the calendar a binary heap of arrays.

Events are ordered by ``(time, sequence)``: time in picoseconds, sequence the
order in which events were scheduled (each handled event's consequences in the
order `switchsim.sim.handlers.handle_event` writes them). That is the order
SimPy keeps for its own events (time, then scheduling order), which is why the
SimPy engine, scheduling the same consequences in the same order, processes
the same events in the same order.

The heap holds ``(time, sequence, row)`` triples; ``row`` indexes an event
table whose free rows are a stack. Nothing is allocated per event and no
Python runs per event: `run_events` returns to Python only every
``max_events`` events (for the progress line) or when an array must grow.
"""

from __future__ import annotations

import numba
import numpy as np

from switchsim.sim import handlers as h

#: `run_events` outcomes.
RUNNING = 0  #: max_events done, more to do
COMPLETED = 1  #: every host finished every iteration
TIME_LIMIT = 2  #: the next event is past the time limit
EMPTY = 3  #: nothing left to do before completion (cannot happen with timers armed)
GROW = 4  #: the heap or the buffer pool must grow first


class Calendar:
    """The fast engine's event calendar: heap keys, event rows, free rows (numpy arrays)."""

    def __init__(self, capacity: int) -> None:
        self.time = np.zeros(capacity, np.int64)
        self.sequence = np.zeros(capacity, np.int64)
        self.row = np.zeros(capacity, np.int64)
        self.events = np.zeros((capacity, h.EVENT_FIELDS), np.int64)
        self.free = np.arange(capacity - 1, -1, -1, dtype=np.int64)  # a stack: row 0 on top
        #: size, free rows, next sequence number, time of the last event
        self.scalars = np.array([0, capacity, 0, 0], np.int64)

    @property
    def capacity(self) -> int:
        """Events the arrays can hold."""
        return len(self.time)

    @property
    def size(self) -> int:
        """Events scheduled."""
        return int(self.scalars[0])

    def grow(self) -> None:
        """Double the capacity, keeping every scheduled event."""
        old = self.capacity
        new = 2 * old
        for name in ("time", "sequence", "row"):
            array = np.zeros(new, np.int64)
            array[:old] = getattr(self, name)
            setattr(self, name, array)
        events = np.zeros((new, h.EVENT_FIELDS), np.int64)
        events[:old] = self.events
        self.events = events
        free = np.zeros(new, np.int64)
        count = int(self.scalars[1])
        free[:count] = self.free[:count]
        free[count : count + old] = np.arange(new - 1, old - 1, -1)
        self.free = free
        self.scalars[1] = count + old


@numba.njit(cache=True, nogil=True, _nrt=False)
def _before(times, sequences, a, b):
    return times[a] < times[b] or (times[a] == times[b] and sequences[a] < sequences[b])


@numba.njit(cache=True, nogil=True, _nrt=False)
def _push(times, sequences, rows, events, free, scalars, event):
    size = scalars[0]
    scalars[1] -= 1
    row = free[scalars[1]]
    for field in range(h.EVENT_FIELDS):
        events[row, field] = event[field]
    sequence = scalars[2]
    scalars[2] += 1
    time = event[h.E_TIME]
    i = size
    scalars[0] = size + 1
    while i > 0:  # sift up
        parent = (i - 1) >> 1
        if times[parent] < time or (times[parent] == time and sequences[parent] < sequence):
            break
        times[i] = times[parent]
        sequences[i] = sequences[parent]
        rows[i] = rows[parent]
        i = parent
    times[i] = time
    sequences[i] = sequence
    rows[i] = row


@numba.njit(cache=True, nogil=True, _nrt=False)
def _pop(times, sequences, rows, free, scalars):
    """Remove the first event; return its row (the caller frees it after reading)."""
    top = rows[0]
    size = scalars[0] - 1
    scalars[0] = size
    if size > 0:
        time = times[size]
        sequence = sequences[size]
        row = rows[size]
        i = 0
        while True:  # sift down
            child = 2 * i + 1
            if child >= size:
                break
            if child + 1 < size and _before(times, sequences, child + 1, child):
                child += 1
            if time < times[child] or (time == times[child] and sequence < sequences[child]):
                break
            times[i] = times[child]
            sequences[i] = sequences[child]
            rows[i] = rows[child]
            i = child
        times[i] = time
        sequences[i] = sequence
        rows[i] = row
    return top


@numba.njit(cache=True, nogil=True, _nrt=False)
def schedule(times, sequences, rows, events, free, scalars, out, count):
    """Push ``out[:count]`` onto the heap in order."""
    for i in range(count):
        _push(times, sequences, rows, events, free, scalars, out[i])


@numba.njit(cache=True, nogil=True, _nrt=False)
def run_events(state, times, sequences, rows, events, free, scalars, out, max_time, max_events):
    """Handle events in ``(time, sequence)`` order until done, past ``max_time``, or ``max_events`` handled.

    Returns ``(outcome, events handled)``; ``scalars[3]`` is the time of the last handled event.
    """
    margin = out.shape[0]
    handled = 0
    counters = state.counters
    buffers = state.buffer_values.shape[0]
    while handled < max_events:
        if counters[h.G_HOSTS_REMAINING] == 0:
            return COMPLETED, handled
        if scalars[0] == 0:
            return EMPTY, handled
        if scalars[1] < margin or counters[h.G_BUFFERS_IN_USE] + 2 > buffers:
            return GROW, handled
        if times[0] > max_time:
            return TIME_LIMIT, handled
        row = _pop(times, sequences, rows, free, scalars)
        event = events[row]
        now = event[h.E_TIME]
        count = h.handle_event(state, now, event[h.E_KIND], event[h.E_TARGET], event[h.E_HEADER],
                               event[h.E_CHANNEL], event[h.E_PAYLOAD], out)
        free[scalars[1]] = row
        scalars[1] += 1
        scalars[3] = now
        handled += 1
        for i in range(count):
            _push(times, sequences, rows, events, free, scalars, out[i])
    if counters[h.G_HOSTS_REMAINING] == 0:
        return COMPLETED, handled
    return RUNNING, handled


def event_buffer(window: int) -> np.ndarray:
    """Room for the events one handled event can cause: a window of (re)sends, each duplicated, and more."""
    return np.zeros((2 * window + 2 * 32 + 8, h.EVENT_FIELDS), np.int64)


def initial_events(state: h.SimState) -> np.ndarray:
    """Every host begins its first iteration after one compute phase (time 0 without compute)."""
    hosts = state.hosts.shape[0]
    events = np.zeros((hosts, h.EVENT_FIELDS), np.int64)
    events[:, h.E_TIME] = state.parameters[h.P_COMPUTE]
    events[:, h.E_KIND] = h.BEGIN
    events[:, h.E_TARGET] = np.arange(hosts)
    events[:, h.E_CHANNEL] = -1
    return events


def run(state: h.SimState, max_time: int, progress=None, chunk: int = 2_000_000):
    """Run to completion or ``max_time`` (ps); returns ``(state, completed, end time in ps, events)``.

    ``progress(now_ps, events)`` is called between chunks of ``chunk`` events.
    The state may be replaced (its buffer pool grown), hence returned.
    """
    from switchsim.sim.state import grow_buffers, needs_more_buffers

    window = int(state.parameters[h.P_WINDOW])
    out = event_buffer(window)
    calendar = Calendar(max(1024, 4 * state.hosts.shape[0] * min(window, 64) + 4 * len(out)))
    start = initial_events(state)
    schedule(calendar.time, calendar.sequence, calendar.row, calendar.events, calendar.free, calendar.scalars,
             start, len(start))
    total = 0
    while True:
        outcome, handled = run_events(state, calendar.time, calendar.sequence, calendar.row, calendar.events,
                                      calendar.free, calendar.scalars, out, max_time, chunk)
        total += handled
        if outcome == GROW:
            if calendar.scalars[1] < len(out):
                calendar.grow()
            if needs_more_buffers(state):
                state = grow_buffers(state)
            continue
        if progress is not None:
            progress(int(calendar.scalars[3]), total)
        if outcome == RUNNING:
            continue
        completed = outcome == COMPLETED
        end = int(calendar.scalars[3]) if completed else max_time
        return state, completed, end, total
