"""Each method's convention as its paper states it (issue 19); each test failed on the code before it."""

import math

import numpy as np

from switchsim.study.models import make_model
from workers.quantizers.compressors import COMPRESSORS, Heuristic, IntSGDDeterministic, SignSGD, TernGrad, TopK
from workers.quantizers.compressors.natural import natural_round
from workers.quantizers.compressors.qsgd import QSGD, elias_omega_bits, qsgd_bits
from workers.quantizers.compressors.topk import index_bits
from workers.quantizers.intsgd import AlphaState


def test_intsgd_deterministic_rounds_ties_to_even_as_torch_round():
    compressor = IntSGDDeterministic(2, (0, 6))
    state = AlphaState((0, 6), (1.0,))
    g = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], np.float32)
    assert compressor.encode(g, 0, 0, state).payload[0].tolist() == [0, 2, 2, 0, -2, -2]


def test_heuristic_alpha_is_127_over_n_times_two_to_the_e():
    for n in (8, 16):
        g = np.full((n, 4), 3.0, np.float32)  # max 3: e = 1
        alpha = Heuristic(n, (0, 4)).prepare(g).alphas[0]
        assert alpha == 127 / (n * 2)
        assert alpha != (127 // n) / 2  # floor(127 / n) / 2**e is 5.5 % lower at n = 8, 11.8 % at n = 16


def test_topk_indices_cost_ceil_log2_d_bits():
    assert [index_bits(d) for d in (2, 3, 4, 650, 1024, 1025, 11_689_512)] == [1, 2, 2, 10, 10, 11, 24]
    compressor = TopK(2, (0, 650))
    message = compressor.encode(np.arange(650, dtype=np.float32), 0, 0, None)
    assert compressor.k == 6 and message.bits == 6 * (10 + 32)


def _omega(value):
    """Elias omega, written out: groups of binary digits, recursively, then a final 0."""
    code = "0"
    while value > 1:
        binary = bin(value)[2:]
        code = binary + code
        value = len(binary) - 1
    return code


def test_elias_omega_lengths_equal_a_literal_encoder():
    # hand-worked: 1 -> "0", 2 -> "100", 4 -> "101000", 17 -> "10100100010"
    assert [_omega(v) for v in (1, 2, 4, 17)] == ["0", "100", "101000", "10100100010"]
    values = np.arange(1, 5000)
    assert elias_omega_bits(values).tolist() == [len(_omega(int(v))) for v in values]


def test_qsgd_bits_are_the_papers_elias_omega_coding_on_a_hand_worked_example():
    # One bucket of 5 levels 0 0 3 0 1: norm (32) + omega(2 nonzeros + 1 = 3) "110" (3)
    # + first nonzero at position 2: omega(distance 3) "110" + sign + omega(3) "110" = 7
    # + second at position 4: omega(2) "100" + sign + omega(1) "0" = 5: 32 + 3 + 7 + 5 = 47.
    assert qsgd_bits(np.array([0, 0, 3, 0, 1]), 1) == 47
    # two buckets of 3 (distances restart at each bucket): 32 + 3 + 7 = 42 and 32 + omega(3) + (3 + 1 + 1)
    # + (omega(1) + 1 + omega(2) = 1 + 1 + 3) = 45
    assert qsgd_bits(np.array([0, 0, 3, 0, 1, 2]), 2, 3) == 87
    compressor = QSGD(1, (0, 5), levels=4, bucket=5)
    assert compressor.encode(np.zeros(5, np.float32), 0, 0, None).bits == 32 + 1  # omega(1): no nonzeros


def test_signsgd_tie_votes_plus_one():
    compressor = SignSGD(2, (0, 3))
    g = np.array([[1.0, -1.0, 2.0], [-1.0, -1.0, 2.0]], np.float32)  # first coordinate ties
    mean, _ = compressor.reduce(g, 0)
    scale = np.mean(np.abs(g), axis=1).mean()
    assert mean.tolist() == np.float32([scale, -scale, scale]).tolist()


def test_natural_compression_sends_no_subnormal_powers_of_two():
    tiny = np.array([2.0**-127, -(2.0**-130), 1e-45], np.float32)  # float32 subnormals
    for u in (0.0, 0.3, 0.49, 0.51, 0.99):
        out = natural_round(tiny, np.full(3, u))
        assert all(v == 0 or abs(v) >= 2.0**-126 for v in out.tolist())
    # unbiased: 2**-127 goes to 2**-126 with probability 1/2
    rng = np.random.default_rng(0)
    draws = natural_round(np.full(200_000, 2.0**-127, np.float32), rng.random(200_000)).astype(np.float64)
    assert abs(draws.mean() / 2.0**-127 - 1) < 6 * math.sqrt(1 / 200_000)


def test_terngrad_message_is_two_bits_per_element_and_a_scale_per_layer():
    mlp = make_model("mlp")
    compressor = TernGrad(4, mlp.layer_bounds)
    _, traffic = compressor.reduce(np.ones((4, mlp.dim), np.float32), 0)
    assert traffic.bits_per_worker == 2 * mlp.dim + 32 * (len(mlp.layer_bounds) - 1)
    assert next(t for t in traffic.transfers if t.per_model).element_bits == 8  # on the switch: 8-bit elements


def test_momentum_placement_per_method():
    after = {name for name, cls in COMPRESSORS.items() if not cls.momentum_before_reduce}
    assert after == set(COMPRESSORS) - {"signsgd"}
