"""The switch's decisions as data: actions, counters and the decision table.

Mirrors p4app-switchML's ``next_step`` table (``next_step_selector.p4``) and
``count_workers`` (``workers_counter.p4``), reduced to what the pipeline model
decides per packet. `switchsim.pipeline.process` implements this table; a test
checks it row for row, and the P4 program must meet the same rows through the
conformance vectors.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


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

#: How reports word each counter. The official program's ``drop`` counter also counts the contributions the
#: switch consumed (absorbed into a slot, nothing sent back), which a lossless run is full of: it keeps its
#: official name in JSON and in the conformance vectors, and reads as what it counts in text.
COUNTER_LABELS: dict[Counter, str] = {
    Counter.BROADCAST: "multicast results",
    Counter.RETRANSMIT: "unicast replies to duplicates",
    Counter.DROP: "consumed or dropped ('drop')",
    Counter.STALE: "stale duplicates dropped",
    Counter.REJECTED: "rejected",
}


def describe_counters(counters: dict[str, int]) -> str:
    """The totals of `Model.counters` in words, e.g. "multicast results 12, ..., consumed or dropped ('drop') 24".

    Example:
        >>> describe_counters({"broadcast": 2, "retransmit": 0, "drop": 4, "stale": 0, "rejected": 0})
        "multicast results 2, unicast replies to duplicates 0, consumed or dropped ('drop') 4, stale duplicates \
dropped 0, rejected 0"
    """
    labels = {counter.name.lower(): label for counter, label in COUNTER_LABELS.items()}
    return ", ".join(f"{labels.get(name, name)} {count:,}" for name, count in counters.items())

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

class DropReason(StrEnum):
    """Why a switch sends nothing for a frame or datagram it received: the one list every switch counts by.

    The frame switch, the emulator's datagram switch and the P4 programs' ``drop_reason_count``
    counter each count the subset they can meet (``FRAME_DROP_REASONS``,
    ``switchsim.emu.datagram_switch.DROP_REASONS``, ``switchsim.p4gen.render.P4_DROP_REASONS``).
    Values are the names reports and JSON show.
    """

    UNREGISTERED_SOURCE = "unregistered_source"  #: the source (MAC+IP, or IP+UDP port) is not in the worker table
    TRUNCATED = "truncated"  #: shorter than its headers and k elements
    UNKNOWN_SIZE = "unknown_size"  #: a ``size`` code no format defines
    UNSUPPORTED_SIZE = "unsupported_size"  #: a known ``size`` that is not this switch's k
    LENGTH_MISMATCH = "length_mismatch"  #: longer than the message its ``size`` announces
    WRONG_JOB = "wrong_job"  #: another job's ``job_number``
    IP_OPTIONS = "ip_options"  #: an IPv4 header with options (ihl != 5)
    SLOT_OUT_OF_RANGE = "slot_out_of_range"  #: a slot beyond the switch's pool
    RUNT = "runt"  #: not even an Ethernet header
    UNKNOWN_DESTINATION = "unknown_destination"  #: other traffic to a MAC address no port has
    REJECTED = "rejected"  #: the pipeline returned `Action.REJECTED`
    INTERNAL_ERROR = "internal_error"  #: the emulator failed on the datagram (never expected)


class Recipients(IntEnum):
    """Who receives the set's contents after a packet (p4app-switchML's ``next_step_selector``)."""

    NONE = 0  #: nothing is sent
    JOB = 1  #: multicast: every worker of the sender's job, the sender included
    SENDER = 2  #: unicast: the sender only, back out the port the packet came in on


#: The workers each action sends the set's contents to (`switchsim.pipeline.process.next_step` reads it).
RECIPIENTS: dict[Action, Recipients] = {
    Action.CONSUMED: Recipients.NONE,
    Action.MULTICAST: Recipients.JOB,
    Action.UNICAST: Recipients.SENDER,
    Action.DROPPED: Recipients.NONE,
    Action.STALE: Recipients.NONE,
    Action.REJECTED: Recipients.NONE,
}
