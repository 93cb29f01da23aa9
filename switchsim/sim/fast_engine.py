"""The fast engine: the whole event loop compiled with numba; the calendar a heap of instants.

Events are ordered by ``(time, sequence)``: time in picoseconds, sequence the
order in which events were scheduled (each handled event's consequences in the
order `switchsim.sim.handlers.handle_event` writes them). That is the order
SimPy keeps for its own events (time, then scheduling order), which is why the
SimPy engine, scheduling the same consequences in the same order, processes
the same events in the same order.

The calendar keeps one FIFO list of events per distinct instant (lockstep
workers make many events share one: the n requests of a chunk, the n copies of
a multicast), a binary heap of the instants, and a hash table from an instant
to its list. Appending to an instant's list keeps scheduling order within it,
so popping the first event of the earliest instant is exactly the
``(time, sequence)`` order, with one heap operation per instant rather than per
event. Nothing is allocated per event and no Python runs per event:
`run_events` returns to Python only every ``max_events`` events (for the
progress line) or when an array must grow.
"""

from __future__ import annotations

import numba
import numpy as np

from switchsim.sim import handlers as h
from switchsim.sim import transport
from switchsim.sim.state import FLOW_MARGIN, grow_buffers, needs_more_buffers

#: `run_events` outcomes.
RUNNING = 0  #: max_events done, more to do
COMPLETED = 1  #: every host finished every iteration
TIME_LIMIT = 2  #: the next event is past the time limit
EMPTY = 3  #: nothing left to do before completion (cannot happen with timers armed)
GROW = 4  #: the calendar or the buffer pool must grow first

# scalars of a calendar
K_EVENTS = 0  #: events scheduled
K_FREE_ROWS = 1  #: free event rows (top of the row stack)
K_INSTANTS = 2  #: instants in the heap
K_FREE_INSTANTS = 3  #: free instant slots (top of their stack)
K_LAST_TIME = 4  #: time of the last event handled
SCALARS = 5
#: an empty hash-table key (times are >= 0)
_VACANT = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class Calendar:
    """The fast engine's calendar as numpy arrays (see module docstring); `grow` doubles it."""

    def __init__(self, capacity: int) -> None:
        self.events = np.zeros((capacity, h.EVENT_FIELDS), np.int64)
        self.next_row = np.full(capacity, -1, np.int64)  # next event of the same instant
        self.free_rows = np.arange(capacity - 1, -1, -1, dtype=np.int64)  # a stack: row 0 on top
        self.instant_time = np.zeros(capacity, np.int64)
        self.instant_head = np.full(capacity, -1, np.int64)
        self.instant_tail = np.full(capacity, -1, np.int64)
        self.free_instants = np.arange(capacity - 1, -1, -1, dtype=np.int64)
        self.heap = np.zeros(capacity, np.int64)  # instant slots, earliest first
        self.table_time = np.full(2 * capacity, _VACANT, np.int64)  # open addressing, linear probing
        self.table_instant = np.zeros(2 * capacity, np.int64)
        self.scalars = np.array([0, capacity, 0, capacity, 0], np.int64)

    @property
    def capacity(self) -> int:
        """Events the arrays can hold."""
        return len(self.events)

    @property
    def size(self) -> int:
        """Events scheduled."""
        return int(self.scalars[K_EVENTS])

    def arrays(self) -> tuple:
        """The arrays, in the order the compiled functions take them."""
        return (self.events, self.next_row, self.free_rows, self.instant_time, self.instant_head, self.instant_tail,
                self.free_instants, self.heap, self.table_time, self.table_instant, self.scalars)

    def grow(self) -> None:
        """Double the capacity, keeping every scheduled event in order (rebuilt by re-scheduling)."""
        pending = drain(*self.arrays())
        self.__init__(2 * self.capacity)
        schedule(*self.arrays(), pending, len(pending))


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _home(time, mask):
    return np.int64((np.uint64(time) * _GOLDEN) >> np.uint64(32)) & mask


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _find(table_time, table_instant, time):
    """The instant slot of ``time``, or -1."""
    mask = table_time.shape[0] - 1
    i = _home(time, mask)
    while True:
        key = table_time[i]
        if key == time:
            return table_instant[i]
        if key == _VACANT:
            return -1
        i = (i + 1) & mask


@numba.njit(cache=True, nogil=True, _nrt=False)
def _forget(table_time, table_instant, time):
    """Remove ``time`` from the table (backward-shift deletion keeps probe chains whole)."""
    mask = table_time.shape[0] - 1
    i = _home(time, mask)
    while table_time[i] != time:
        i = (i + 1) & mask
    table_time[i] = _VACANT
    j = i
    while True:
        j = (j + 1) & mask
        key = table_time[j]
        if key == _VACANT:
            return
        home = _home(key, mask)
        if (i <= j and i < home <= j) or (i > j and (home > i or home <= j)):
            continue  # the entry at j still reaches its home without crossing i
        table_time[i] = key
        table_instant[i] = table_instant[j]
        table_time[j] = _VACANT
        i = j


@numba.njit(cache=True, nogil=True, _nrt=False)
def _new_instant(instant_time, instant_head, instant_tail, free_instants, heap, table_time, table_instant, scalars,
                 time):
    scalars[K_FREE_INSTANTS] -= 1
    instant = free_instants[scalars[K_FREE_INSTANTS]]
    instant_time[instant] = time
    instant_head[instant] = -1
    instant_tail[instant] = -1
    mask = table_time.shape[0] - 1
    i = _home(time, mask)
    while table_time[i] != _VACANT:
        i = (i + 1) & mask
    table_time[i] = time
    table_instant[i] = instant
    i = scalars[K_INSTANTS]  # sift up (instants are distinct: no ties)
    scalars[K_INSTANTS] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if instant_time[heap[parent]] < time:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = instant
    return instant


@numba.njit(cache=True, nogil=True, _nrt=False)
def _drop_first_instant(instant_time, free_instants, heap, table_time, table_instant, scalars):
    first = heap[0]
    _forget(table_time, table_instant, instant_time[first])
    free_instants[scalars[K_FREE_INSTANTS]] = first
    scalars[K_FREE_INSTANTS] += 1
    size = scalars[K_INSTANTS] - 1
    scalars[K_INSTANTS] = size
    if size == 0:
        return
    moving = heap[size]
    time = instant_time[moving]
    i = 0
    while True:  # sift down
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and instant_time[heap[child + 1]] < instant_time[heap[child]]:
            child += 1
        if time < instant_time[heap[child]]:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = moving


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _instant_of(instant_time, instant_head, instant_tail, free_instants, heap, table_time, table_instant, scalars,
                time):
    """The instant slot of ``time``, created if the calendar has none."""
    instant = _find(table_time, table_instant, time)
    if instant < 0:
        instant = _new_instant(instant_time, instant_head, instant_tail, free_instants, heap, table_time,
                               table_instant, scalars, time)
    return instant


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _append(events, next_row, free_rows, instant_head, instant_tail, scalars, instant, event):
    """Put ``event`` last in its instant's list."""
    scalars[K_FREE_ROWS] -= 1
    row = free_rows[scalars[K_FREE_ROWS]]
    for field in range(h.EVENT_FIELDS):
        events[row, field] = event[field]
    next_row[row] = -1
    tail = instant_tail[instant]
    if tail >= 0:
        next_row[tail] = row
    else:
        instant_head[instant] = row
    instant_tail[instant] = row
    scalars[K_EVENTS] += 1


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _pop(next_row, instant_time, instant_head, free_instants, heap, table_time, table_instant, scalars):
    """Remove the first event; return its row (the caller frees it after reading)."""
    instant = heap[0]
    row = instant_head[instant]
    following = next_row[row]
    instant_head[instant] = following
    if following < 0:
        _drop_first_instant(instant_time, free_instants, heap, table_time, table_instant, scalars)
    scalars[K_EVENTS] -= 1
    return row


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _schedule(events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap, table_time,
              table_instant, scalars, out, count):
    """Schedule ``out[:count]`` in order (consecutive events at one instant look it up once: a multicast's copies)."""
    last_time = -1
    instant = -1
    for i in range(count):
        time = out[i, h.E_TIME]
        if time != last_time:
            instant = _instant_of(instant_time, instant_head, instant_tail, free_instants, heap, table_time,
                                  table_instant, scalars, time)
            last_time = time
        _append(events, next_row, free_rows, instant_head, instant_tail, scalars, instant, out[i])


@numba.njit(cache=True, nogil=True, _nrt=False)
def schedule(events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap, table_time,
             table_instant, scalars, out, count):
    """Schedule ``out[:count]`` in order."""
    _schedule(events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap, table_time,
              table_instant, scalars, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False)
def _drain_into(events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap,
                table_time, table_instant, scalars, pending):
    count = 0
    while scalars[K_EVENTS]:
        row = _pop(next_row, instant_time, instant_head, free_instants, heap, table_time, table_instant, scalars)
        for field in range(h.EVENT_FIELDS):
            pending[count, field] = events[row, field]
        count += 1
        free_rows[scalars[K_FREE_ROWS]] = row
        scalars[K_FREE_ROWS] += 1


def drain(events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap, table_time,
          table_instant, scalars) -> np.ndarray:
    """Every scheduled event in calendar order, emptying the calendar (for `Calendar.grow` and tests)."""
    pending = np.zeros((int(scalars[K_EVENTS]), h.EVENT_FIELDS), np.int64)
    _drain_into(events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap, table_time,
                table_instant, scalars, pending)
    return pending


@numba.njit(cache=True, nogil=True, _nrt=False)
def run_events(state, events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap,
               table_time, table_instant, scalars, out, max_time, max_events):
    """Handle events in ``(time, sequence)`` order until done, past ``max_time``, or ``max_events`` handled.

    Returns ``(outcome, events handled)``; ``scalars[K_LAST_TIME]`` is the time of the last handled event.
    """
    margin = out.shape[0]
    handled = 0
    counters = state.counters
    buffers = state.buffer_values.shape[0]
    flows = state.flows.shape[0] > 0
    flow_buffers = state.flow_values.shape[0] - FLOW_MARGIN
    send_slots = state.flow_send.shape[1] - state.flow_receive.shape[1] - FLOW_MARGIN
    while handled < max_events:
        if counters[h.G_HOSTS_REMAINING] == 0:
            return COMPLETED, handled
        if scalars[K_EVENTS] == 0:
            return EMPTY, handled
        if scalars[K_FREE_ROWS] < margin or scalars[K_FREE_INSTANTS] < margin or \
                counters[h.G_BUFFERS_IN_USE] + 2 > buffers:
            return GROW, handled
        if flows and (counters[h.G_FLOW_BUFFERS_IN_USE] > flow_buffers or
                      counters[h.G_SEND_BACKLOG_PEAK] > send_slots):
            return GROW, handled
        if instant_time[heap[0]] > max_time:
            return TIME_LIMIT, handled
        row = _pop(next_row, instant_time, instant_head, free_instants, heap, table_time, table_instant, scalars)
        now = events[row, h.E_TIME]
        count = h.handle_event(state, now, events[row, h.E_KIND], events[row, h.E_TARGET], events[row, h.E_HEADER],
                               events[row, h.E_CHANNEL], events[row, h.E_PAYLOAD], out)
        free_rows[scalars[K_FREE_ROWS]] = row
        scalars[K_FREE_ROWS] += 1
        scalars[K_LAST_TIME] = now
        handled += 1
        _schedule(events, next_row, free_rows, instant_time, instant_head, instant_tail, free_instants, heap,
                  table_time, table_instant, scalars, out, count)
    if counters[h.G_HOSTS_REMAINING] == 0:
        return COMPLETED, handled
    return RUNNING, handled


def event_buffer(window: int, hosts: int = 0) -> np.ndarray:
    """Room for the events one handled event can cause: a window of (re)sends, each duplicated, and more
    (a collective's iteration wakes each of its ``hosts``' NICs; an acknowledgement at a parameter server
    grants credit to each of its workers' pushes)."""
    return np.zeros((max(2 * window, 2 * hosts) + 2 * 32 + 8, h.EVENT_FIELDS), np.int64)


def state_event_buffer(state: h.SimState) -> np.ndarray:
    """`event_buffer` for ``state``."""
    return event_buffer(int(state.parameters[h.P_WINDOW]), state.hosts.shape[0])


def initial_events(state: h.SimState) -> np.ndarray:
    """After one compute phase (time 0 without compute): every SwitchML host begins its first
    iteration (``H_SWITCHML``), then every collective job (``GROUP_BEGIN``; a job with ``GR_HOSTS`` 0
    runs SwitchML or sits idle)."""
    hosts = np.flatnonzero(state.hosts[:, h.H_SWITCHML])
    groups = np.flatnonzero(state.collective_groups[:, transport.GR_HOSTS])
    events = np.zeros((len(hosts) + len(groups), h.EVENT_FIELDS), np.int64)
    events[:, h.E_TIME] = state.parameters[h.P_COMPUTE]
    events[:len(hosts), h.E_KIND] = h.BEGIN
    events[:len(hosts), h.E_TARGET] = hosts
    events[len(hosts):, h.E_KIND] = h.GROUP_BEGIN
    events[len(hosts):, h.E_TARGET] = groups
    events[:, h.E_CHANNEL] = -1
    return events


def run(state: h.SimState, max_time: int, progress=None, chunk: int = 2_000_000):
    """Run to completion or ``max_time`` (ps); returns ``(state, completed, end time in ps, events)``.

    ``progress(now_ps, results)`` (results accepted so far) is called between chunks of ``chunk`` events.
    The state may be replaced (its buffer pool grown), hence returned.
    """
    window = int(state.parameters[h.P_WINDOW])
    out = state_event_buffer(state)
    # room for every host's window of requests and results in flight (it grows if that is not enough)
    calendar = Calendar(_power_of_two(max(1024, 2 * state.hosts.shape[0] * window + 4 * len(out))))
    start = initial_events(state)
    schedule(*calendar.arrays(), start, len(start))
    total = 0
    while True:
        outcome, handled = run_events(state, *calendar.arrays(), out, max_time, chunk)
        total += handled
        if outcome == GROW:
            if min(calendar.scalars[K_FREE_ROWS], calendar.scalars[K_FREE_INSTANTS]) < len(out):
                calendar.grow()
            if needs_more_buffers(state):
                state = grow_buffers(state)
            continue
        if progress is not None:
            progress(int(calendar.scalars[K_LAST_TIME]), int(state.counters[h.G_CHECKED_PACKETS]))
        if outcome == RUNNING:
            continue
        completed = outcome == COMPLETED
        end = int(calendar.scalars[K_LAST_TIME]) if completed else max_time
        return state, completed, end, total


def _power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()
