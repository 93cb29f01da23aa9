"""The switch's decisions as data: actions, counters and the decision table.

Mirrors p4app-switchML's ``next_step`` table (``next_step_selector.p4``) and
``count_workers`` (``workers_counter.p4``), reduced to what the pipeline model
decides per packet. `switchsim.pipeline.process` implements this table; a test
checks it row for row, and the P4 program must meet the same rows through the
conformance vectors.
"""

from __future__ import annotations

from enum import IntEnum


class Action(IntEnum):
    """What the switch does with one packet."""

    CONSUMED = 0  #: new contribution, not the last: absorbed, nothing sent
    MULTICAST = 1  #: new contribution that completes the set: result to all n workers
    UNICAST = 2  #: duplicate to a complete set: stored result back to the sender
    DROPPED = 3  #: duplicate to an incomplete set: dropped
    STALE = 4  #: hardened mode only: late duplicate of an older chunk, dropped untouched
    REJECTED = 5  #: invalid input (slot out of range, bad worker id or n): dropped untouched


class Counter(IntEnum):
    """Columns of the per-slot counter array (as the official CLI shows them)."""

    BROADCAST = 0  #: multicasts of a completed set
    RETRANSMIT = 1  #: unicast replies to duplicates
    DROP = 2  #: official meaning: consumed contributions plus dropped duplicates
    STALE = 3  #: hardened mode: late duplicates dropped
    REJECTED = 4  #: packets rejected as invalid


COUNTER_COLUMNS = len(Counter)

#: (duplicate?, set complete after this packet?) -> action, for a valid packet
#: in faithful mode. "complete" for a new contribution means it was the last
#: one; for a duplicate it means the down-counter reads 0.
DECISION_TABLE: dict[tuple[bool, bool], Action] = {
    (False, False): Action.CONSUMED,
    (False, True): Action.MULTICAST,
    (True, True): Action.UNICAST,
    (True, False): Action.DROPPED,
}

#: Which counter each action increments (REJECTED/STALE count on their own).
ACTION_COUNTERS: dict[Action, tuple[Counter, ...]] = {
    Action.CONSUMED: (Counter.DROP,),
    Action.MULTICAST: (Counter.BROADCAST,),
    Action.UNICAST: (Counter.RETRANSMIT,),
    Action.DROPPED: (Counter.DROP,),
    Action.STALE: (Counter.STALE,),
    Action.REJECTED: (Counter.REJECTED,),
}

#: Actions that send the set's contents back out.
REPLYING_ACTIONS = frozenset({Action.MULTICAST, Action.UNICAST})
