"""How a run ended, in one vocabulary for every command: exact, wrong, or did not finish.

A run that stops at its time limit has not produced a sum, so it is neither
right nor wrong: ``correct`` is only judged when ``completed`` (it is ``None``
otherwise), and ``stopped_by`` says what stopped it. Every table, plot and
verdict line (``run``, ``sweep``, ``loop``, ``emulate``) words it with
`describe`, and every command's exit status comes from `exit_status`.

Exit statuses: 0 exact, 1 a sum was wrong, 2 bad input, 3 did not finish,
4 infrastructure failed (results kept); 130 / 143 when SIGINT / SIGTERM
stopped the command. An infrastructure failure is never reported as a wrong sum.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

#: Why a run stopped before finishing: its simulated-time limit, its wall-clock limit, or a failure.
STOPPED_BY = ("max_time", "max_wall", "error")


class Outcome(Enum):
    """The three ways a run ends."""

    EXACT = "exact"
    WRONG = "wrong"
    DID_NOT_FINISH = "did not finish"


def outcome(completed: bool, correct: bool | None) -> Outcome:
    """The `Outcome` of a run from its ``completed`` and ``correct`` fields."""
    if not completed:
        return Outcome.DID_NOT_FINISH
    return Outcome.EXACT if correct else Outcome.WRONG


def judged(completed: bool, correct: bool) -> bool | None:
    """The ``correct`` field to record: ``correct`` for a finished run, ``None`` (not judged) otherwise."""
    return bool(correct) if completed else None


def describe(completed: bool, correct: bool | None, stopped_by: str | None = None, limit_s: float | None = None,
             detail: str = "") -> str:
    """A short verdict: "exact", "WRONG" or "did not finish (max_time 60 s simulated)".

    Example:
        >>> describe(False, None, "max_time", 60.0)
        'did not finish (max_time 60 s simulated)'
        >>> describe(True, False)
        'WRONG'
    """
    result = outcome(completed, correct)
    if result is Outcome.EXACT:
        return "exact"
    if result is Outcome.WRONG:
        return "WRONG" + (f": {detail}" if detail else "")
    if stopped_by == "max_time" and limit_s is not None:
        reason = f"max_time {limit_s:g} s simulated"
    elif stopped_by == "max_wall" and limit_s is not None:
        reason = f"max_wall {limit_s:g} s wall clock"
    else:
        reason = stopped_by or "stopped"
    return f"did not finish ({reason}{': ' + detail if detail else ''})"


#: Exit statuses: every run exact; some sum wrong; some run did not finish (and none wrong).
EXIT_EXACT, EXIT_WRONG, EXIT_DID_NOT_FINISH = 0, 1, 3
#: Exit status of bad input (a flag, a value, a file), refused before anything runs.
EXIT_BAD_INPUT = 2
#: Exit status when the infrastructure failed (a Dask scheduler lost, unreachable, or without workers): no
#: sum was judged wrong, and the runs that finished are kept (``sweep --resume`` runs only the missing ones).
EXIT_INFRASTRUCTURE = 4


def exit_status(outcomes: Iterable[Outcome]) -> int:
    """0 when every run was exact, 1 when any sum was wrong, else 3 when any run did not finish."""
    seen = set(outcomes)
    if Outcome.WRONG in seen:
        return EXIT_WRONG
    if Outcome.DID_NOT_FINISH in seen:
        return EXIT_DID_NOT_FINISH
    return EXIT_EXACT
