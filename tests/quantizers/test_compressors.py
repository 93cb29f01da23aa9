"""Every compressor: unbiased where claimed (statistical bound), exact bits, sums that fit, error feedback."""

import math

import numpy as np
import pytest

from switchsim.study.models import make_model
from workers.quantizers.accumulate import accumulate
from workers.quantizers.compressors import (
    COLLECTIVES,
    COMPRESSORS,
    VARIANTS,
    Natural,
    PowerSGD,
    TernGrad,
    TopK,
    Transfer,
)
from workers.quantizers.compressors.base import packed
from workers.quantizers.compressors.natural import natural_round
from workers.quantizers.compressors.qsgd import QSGD, elias_gamma_bits, qsgd_bits
from workers.quantizers.intsgd import AlphaState

NAMES = ("intsgd-random", "intsgd-deterministic", "heuristic", "block-exponent", "terngrad", "signsgd", "natural",
         "qsgd", "topk", "powersgd", "float32-ring", "int8-ring")
MLP = make_model("mlp")


def build(name, workers=4, bounds=MLP.layer_bounds, seed=0, **kw):
    cls = {**COMPRESSORS, **VARIANTS}[name]
    if cls is PowerSGD and bounds == MLP.layer_bounds:
        kw.setdefault("shapes", MLP.shapes)
    return cls(workers, bounds, seed, **kw)


def gradients(workers=4, dim=MLP.dim, scale=0.05, seed=1):
    return (np.random.default_rng(seed).standard_normal((workers, dim)) * scale).astype(np.float32)


def test_the_compared_methods_are_exactly_the_twelve_and_each_documents_the_switch():
    assert tuple(COMPRESSORS) == NAMES
    for name, cls in {**COMPRESSORS, **VARIANTS}.items():
        assert cls.name == name and cls.collective in COLLECTIVES
        assert len(cls.switch_reason) > 20 and cls.switch_reason.split(":")[0] in ("yes", "no", "not as sent")
        assert cls.switch_summable == cls.switch_reason.startswith("yes")


# --- unbiasedness: E[decoded mean] = mean, checked against each method's own variance bound ---------------


def _variance_bound(name, compressor, g, shared):
    """Per element, an upper bound on Var(decoded mean) for one step (independent roundings of n workers)."""
    n = len(g)
    if name in ("intsgd-random", "int8-ring"):
        return np.full(g.shape[1], 1 / (4 * shared.alphas[0] ** 2 * n))
    if name == "terngrad":
        s = np.repeat(shared, np.diff(compressor.layer_bounds))
        return s**2 / 4 / n
    if name == "natural":
        return (g.astype(np.float64) ** 2).max(axis=0) / 8 / n
    if name == "qsgd":
        norms = np.stack([compressor._norms(w) for w in g]).max(axis=0)
        return (np.repeat(norms, compressor.bucket)[: g.shape[1]] / compressor.levels) ** 2 / 4 / n
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["intsgd-random", "int8-ring", "terngrad", "natural", "qsgd"])
def test_unbiased_methods_average_to_the_exact_mean(name):
    g = gradients()
    compressor = build(name)
    shared = compressor.prepare(g)
    if isinstance(shared, AlphaState):
        shared = AlphaState(shared.bounds, (20.0,))  # a fixed alpha: no clipping of 0.05-scale values
    exact = g.astype(np.float64).mean(axis=0)
    steps = 300
    total = np.zeros(g.shape[1])
    for step in range(steps):
        messages = [compressor.encode(g[w], w, step, shared) for w in range(len(g))]
        total += compressor.decode(messages, step, shared)
    sigma = np.sqrt(_variance_bound(name, compressor, g, shared) / steps)
    # every element within 6 standard deviations of its bound (plus float32 output rounding)
    assert np.all(np.abs(total / steps - exact) <= 6 * sigma + 1e-6 * np.abs(exact) + 1e-9)
    assert COMPRESSORS[name].unbiased


def test_deterministic_intsgd_is_not_called_unbiased():
    assert not COMPRESSORS["intsgd-deterministic"].unbiased and not COMPRESSORS["topk"].unbiased


def test_natural_rounding_picks_a_neighbouring_power_of_two_with_the_right_probability():
    x = np.array([3.0, -3.0, 0.75, 0.0, 1.0], np.float32)
    assert natural_round(x, np.array([0.49, 0.51, 0.0, 0.5, 0.999])).tolist() == [4.0, -2.0, 1.0, 0.0, 1.0]
    # 3 = 0.75 * 2**2: up to 4 with probability 2 * 0.75 - 1 = 0.5
    assert natural_round(x[:1], np.array([0.5]))[0] == 2.0


# --- exact bits on the wire ---------------------------------------------------------------------------------


def _elias_gamma(value):
    binary = bin(value)[2:]
    return "0" * (len(binary) - 1) + binary


def _omega(value):
    code = "0"
    while value > 1:
        binary = bin(value)[2:]
        code, value = binary + code, len(binary) - 1
    return code


def test_elias_gamma_lengths_equal_a_literal_encoder():
    values = np.arange(1, 5000)
    assert elias_gamma_bits(values).tolist() == [len(_elias_gamma(int(v))) for v in values]
    with pytest.raises(ValueError, match="values must be >= 1"):
        elias_gamma_bits(np.array([0]))


def test_qsgd_bits_equal_the_length_of_its_literal_bit_string():
    compressor = QSGD(2, (0, 1000), levels=8, bucket=128)
    message = compressor.encode(gradients(1, 1000)[0], 0, 0, None)
    norms, levels, signs = message.payload
    stream = ""
    for b, norm in enumerate(norms):  # the paper's coding per bucket, Elias omega written out
        bucket_levels, bucket_signs = levels[128 * b:128 * (b + 1)], signs[128 * b:128 * (b + 1)]
        nonzero = np.flatnonzero(bucket_levels)
        stream += format(np.float32(norm).view(np.uint32), "032b") + _omega(nonzero.size + 1)
        previous = -1
        for i in nonzero:
            stream += _omega(int(i - previous)) + ("1" if bucket_signs[i] else "0") + _omega(int(bucket_levels[i]))
            previous = i
    assert message.bits == len(stream) == qsgd_bits(levels, 8, 128)


@pytest.mark.parametrize("name", [*NAMES, "heuristic-sum-in-wire"])
def test_bits_on_the_wire_are_exact(name):
    n, d, layers = 4, MLP.dim, len(MLP.layer_bounds) - 1
    compressor = build(name, n)
    mean, traffic = compressor.reduce(gradients(n), 0)
    expected = {
        "intsgd-random": 8 * d, "intsgd-deterministic": 8 * d, "heuristic": 8 * d, "heuristic-sum-in-wire": 8 * d,
        "int8-ring": 8 * d, "terngrad": 2 * d + 32 * layers, "block-exponent": 32 * d + 8 * math.ceil(d / 64),
        "signsgd": d + 32 * layers, "natural": 9 * d, "topk": (math.ceil(math.log2(d)) + 32) * round(0.01 * d), "float32-ring": 32 * d,
        # rank 2: W1 64x32 -> 2 (64 + 32), W2 32x10 -> 2 (32 + 10); biases 32 + 10 uncompressed
        "powersgd": 32 * (2 * (64 + 32) + 2 * (32 + 10) + 32 + 10),
    }
    if name == "qsgd":
        assert traffic.bits_per_worker < 32 * d  # exact count checked against a literal stream above
    else:
        assert traffic.bits_per_worker == expected[name]
    assert mean.dtype == np.float32 and mean.shape == (d,)
    main = [t for t in traffic.transfers if t.per_model]
    if compressor.collective == "allgather":
        # all-gather slots hold the largest message (QSGD's sizes vary by worker), packed in bytes
        assert len(main) == 1 and main[0].element_bits == 8
        assert main[0].elements >= math.ceil(traffic.bits_per_worker / 8)
        if name != "qsgd":
            assert main == [packed(traffic.bits_per_worker)]
    elif name != "powersgd":
        assert sum(t.bits for t in main) == {"block-exponent": 32 * d, "terngrad": 8 * d}.get(
            name, traffic.bits_per_worker)
    else:
        assert sum(t.bits for t in main) == traffic.bits_per_worker


def test_transfer_validation_names_the_field():
    with pytest.raises(ValueError, match="Transfer.element_bits must be one of"):
        Transfer("ring", 10, 12)
    with pytest.raises(ValueError, match="Transfer.collective must be one of"):
        Transfer("gossip", 10, 8)
    with pytest.raises(ValueError, match="Transfer.elements must be an integer >= 1"):
        Transfer("ring", 0, 8)


# --- the integer sum fits the accumulator where the method says the switch can sum it -----------------------


@pytest.mark.parametrize("name", [n for n in (*NAMES, "heuristic-sum-in-wire")
                                  if {**COMPRESSORS, **VARIANTS}[n].switch_summable])
@pytest.mark.parametrize("workers", [2, 16, 32])
def test_switch_sums_never_overflow_even_on_extreme_gradients(name, workers):
    compressor = build(name, workers, (0, 512))
    g = np.full((workers, 512), 3.0e4, np.float32)
    g[:, ::2] *= -1  # every worker saturates both signs
    g[0, :7] = [1e-30, -1e-30, 0.0, 5.0, -5.0, 1e4, -1e4]
    for step in range(2):
        shared = compressor.prepare(g)
        messages = [compressor.encode(g[w], w, step, shared) for w in range(workers)]
        rows = np.stack([m.payload[0] for m in messages])
        check = accumulate(rows, accumulator_bits=compressor.accumulator_bits, wire_bits=compressor.wire_bits)
        assert check.overflowed == 0 and check.mismatched == 0 and check.truncated == 0
        assert np.array_equal(check.total, rows.astype(np.int64).sum(axis=0))
        compressor.decode(messages, step, shared)
        assert compressor.overflowed() == 0
        compressor.observe(np.full(512, 1e-3, np.float32), 0.1)


def test_terngrad_values_are_ternary_and_their_sum_fits_int8():
    compressor = TernGrad(32, (0, 100, 300))
    g = gradients(32, 300)
    shared = compressor.prepare(g)
    rows = np.stack([compressor.encode(g[w], w, 0, shared).payload[0] for w in range(32)])
    assert set(np.unique(rows)) <= {-1, 0, 1} and np.abs(rows.sum(axis=0)).max() <= 32 < 127


# --- error feedback carries the residual -------------------------------------------------------------------


def test_topk_error_feedback_keeps_exactly_what_was_not_sent():
    compressor = TopK(1, (0, 1000), ratio=0.05)
    rng = np.random.default_rng(5)
    sent_total = np.zeros(1000)
    grad_total = np.zeros(1000)
    for step in range(20):
        g = rng.standard_normal((1, 1000)).astype(np.float32)
        before = compressor.residuals[0].copy()
        mean, traffic = compressor.reduce(g, step)
        assert np.count_nonzero(mean) == 50 and traffic.bits_per_worker == (10 + 32) * 50
        # what was sent plus what was kept is exactly gradient plus the previous residual
        assert np.array_equal(mean + compressor.residuals[0], g[0] + before)
        assert np.all(compressor.residuals[0][mean != 0] == 0)
        sent_total += mean
        grad_total += g[0]
    assert np.allclose(sent_total + compressor.residuals[0], grad_total, atol=1e-4)


def test_powersgd_error_feedback_keeps_the_low_rank_remainder():
    n = 3
    compressor = PowerSGD(n, MLP.layer_bounds, 0, rank=2, shapes=MLP.shapes)
    g = gradients(n)
    previous = compressor.residuals.copy()
    approximation, _ = compressor.reduce(g, 0)
    w1 = slice(MLP.layer_bounds[0], MLP.layer_bounds[1])
    b1 = slice(MLP.layer_bounds[1], MLP.layer_bounds[2])
    for w in range(n):
        assert np.allclose(compressor.residuals[w][w1], (g[w] + previous[w])[w1] - approximation[w1], atol=1e-6)
        assert np.all(compressor.residuals[w][b1] == 0)  # biases travel exactly
    assert np.allclose(approximation[b1], g[:, b1].mean(axis=0), atol=1e-7)
    assert np.linalg.matrix_rank(approximation[w1].reshape(64, 32).astype(np.float64), tol=1e-6) <= 2
    # rank 2 of the mean matrix plus the residuals: nothing is lost over the step
    total = approximation[w1] + compressor.residuals[:, w1].mean(axis=0)
    assert np.allclose(total, g[:, w1].mean(axis=0), atol=1e-6)


def test_compressor_validation():
    with pytest.raises(ValueError, match="num_workers must be in 1..32"):
        Natural(0, (0, 4))
    with pytest.raises(ValueError, match="layer_bounds must increase strictly from 0"):
        Natural(2, (0, 4, 4))
    with pytest.raises(ValueError, match=r"gradients must have shape \(2, 4\)"):
        Natural(2, (0, 4)).reduce(np.zeros((3, 4), np.float32), 0)
    with pytest.raises(ValueError, match="shapes must match the layer sizes"):
        PowerSGD(2, (0, 4), shapes=[(3, 2)])


@pytest.mark.parametrize(("bits", "fair", "squeezed"), [(2, 1, 1 / 8), (4, 7, 7 / 8), (8, 127 / 8, 127 / 8)])
def test_heuristic_has_intsgds_per_worker_budget_and_the_variant_does_not(bits, fair, squeezed):
    heuristic = build("heuristic", 8, (0, 16), wire_bits=bits)
    variant = build("heuristic-sum-in-wire", 8, (0, 16), wire_bits=bits)
    intsgd = build("intsgd-random", 8, (0, 16), wire_bits=bits)
    assert heuristic.budget() == fair  # (2**(a-1) - 1) / n unfloored, at most the wire's 2**(b-1) - 1
    assert math.floor(fair) == intsgd.quantizer.clip(8)
    assert variant.budget() == squeezed
    g = np.full((8, 16), 3.0, np.float32)  # max 3: e = 1, alpha = budget / 2
    assert heuristic.prepare(g).alphas == (fair / 2,) and variant.prepare(g).alphas == (squeezed / 2,)
