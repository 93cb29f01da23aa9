"""Exactly-once aggregation: worker protocol + pipeline over an in-memory lossy loop."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchsim.memory_loop import Faults, run_in_memory
from switchsim.pipeline import wrapped_sum as exact_sum


def random_tensors(seed, workers, elements):
    rng = np.random.default_rng(seed)
    return rng.integers(-(2**31), 2**31, size=(workers, elements), dtype=np.int64).astype(np.int32)


def assert_exact(result, tensors):
    assert result.completed
    expected = exact_sum(tensors)
    for w in range(len(tensors)):
        np.testing.assert_array_equal(result.results[w], expected)


def test_exact_sum_wraps():
    tensors = np.array([[2**31 - 1, -(2**31)], [1, -1]], np.int32)
    assert exact_sum(tensors).tolist() == [-(2**31), 2**31 - 1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workers=st.integers(1, 32),
    elements=st.integers(1, 2000),
    window=st.integers(1, 16),
    k=st.sampled_from([64, 256]),
    loss_up=st.floats(0, 0.2),
    loss_down=st.floats(0, 0.2),
    seed=st.integers(0, 2**32 - 1),
)
def test_exactly_once_under_loss(workers, elements, window, k, loss_up, loss_down, seed):
    tensors = random_tensors(seed, workers, elements)
    result = run_in_memory(tensors, window=window, elements_per_packet=k, seed=seed,
                           faults=Faults(loss_up=loss_up, loss_down=loss_down), max_time_s=1e4)
    assert_exact(result, tensors)


def test_no_retransmissions_without_loss():
    tensors = random_tensors(0, 8, 64 * 40)
    result = run_in_memory(tensors, window=8)
    assert_exact(result, tensors)
    assert sum(s.retransmissions for s in result.worker_stats) == 0
    assert result.counters["broadcast"] == 40
    assert result.counters["retransmit"] == 0


def test_reordering_within_one_round_trip_is_harmless():
    tensors = random_tensors(1, 4, 64 * 50)
    faults = Faults(loss_up=0.05, loss_down=0.05, jitter_s=4e-6)
    assert_exact(run_in_memory(tensors, window=4, faults=faults, seed=3), tensors)


LATE_DUPLICATES = Faults(loss_up=0.02, loss_down=0.02, duplicate=0.05, duplicate_delay_s=3.7e-5, jitter_s=2e-6)


def test_faithful_mode_reproduces_the_late_duplicate_hazard():
    """Duplicates delivered several round trips late corrupt or stall the official switch."""
    tensors = random_tensors(2, 3, 64 * 100)
    outcomes = []
    for seed in range(5):
        result = run_in_memory(tensors, window=4, faults=LATE_DUPLICATES, seed=seed, max_time_s=0.05)
        exact = result.completed and (result.results == exact_sum(tensors)).all()
        outcomes.append(exact)
    assert not any(outcomes)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workers=st.integers(1, 8),
    duplicate=st.floats(0.01, 0.3),
    delay_rtts=st.floats(0.5, 20),
    loss=st.floats(0, 0.1),
    seed=st.integers(0, 2**32 - 1),
)
def test_hardened_mode_never_produces_a_wrong_sum(workers, duplicate, delay_rtts, loss, seed):
    tensors = random_tensors(seed, workers, 64 * 60)
    faults = Faults(loss_up=loss, loss_down=loss, duplicate=duplicate, duplicate_delay_s=delay_rtts * 1e-5,
                    jitter_s=3e-6)
    result = run_in_memory(tensors, window=4, faults=faults, seed=seed, hardened=True, max_time_s=1e4)
    assert_exact(result, tensors)


def test_runs_are_reproducible():
    tensors = random_tensors(5, 4, 3000)
    faults = Faults(loss_up=0.1, loss_down=0.1)
    a = run_in_memory(tensors, faults=faults, seed=11)
    b = run_in_memory(tensors, faults=faults, seed=11)
    assert a.time_s == b.time_s and a.counters == b.counters


@pytest.mark.parametrize(
    ("field", "value"), [("loss_up", 1.5), ("duplicate", -0.1), ("jitter_s", -1.0)]
)
def test_fault_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Faults(**{field: value})


def test_tensors_must_be_int32_matrix():
    with pytest.raises(ValueError, match="2-D int32"):
        run_in_memory(np.zeros(5, np.int32))
