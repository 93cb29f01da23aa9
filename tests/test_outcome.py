"""One vocabulary for how a run ended: exact, wrong, did not finish; and the exit status it gives."""

import pytest

from switchsim.outcome import (
    EXIT_DID_NOT_FINISH,
    EXIT_EXACT,
    EXIT_WRONG,
    Outcome,
    describe,
    exit_status,
    judged,
    outcome,
)


@pytest.mark.parametrize(
    ("completed", "correct", "stopped_by", "limit", "text"),
    [
        (True, True, None, None, "exact"),
        (True, False, None, None, "WRONG"),
        (False, None, "max_time", 60.0, "did not finish (max_time 60 s simulated)"),
        (False, None, "max_wall", 120.0, "did not finish (max_wall 120 s wall clock)"),
        (False, None, "error", None, "did not finish (error)"),
    ],
)
def test_each_outcome_has_its_own_words(completed, correct, stopped_by, limit, text):
    assert describe(completed, correct, stopped_by, limit) == text
    assert "WRONG" not in describe(False, False, stopped_by, limit)  # an unfinished run is never called wrong


def test_correct_is_judged_only_when_finished():
    assert judged(True, True) is True and judged(True, False) is False
    assert judged(False, True) is None and judged(False, False) is None
    assert outcome(False, None) is Outcome.DID_NOT_FINISH


def test_exit_status_puts_wrong_before_unfinished():
    assert exit_status([Outcome.EXACT, Outcome.EXACT]) == EXIT_EXACT == 0
    assert exit_status([Outcome.EXACT, Outcome.DID_NOT_FINISH]) == EXIT_DID_NOT_FINISH == 3
    assert exit_status([Outcome.DID_NOT_FINISH, Outcome.WRONG]) == EXIT_WRONG == 1
