"""The compressors' numba kernels equal NumPy references written from each method's definition."""

import numpy as np

from workers.quantizers.compressors import QSGD, Natural, SignSGD, TernGrad, TopK
from workers.quantizers.compressors import natural as natural_module
from workers.quantizers.compressors import qsgd as qsgd_module
from workers.quantizers.compressors.kernels import omega_length
from workers.quantizers.compressors.natural import natural_round
from workers.quantizers.compressors.qsgd import elias_omega_bits, qsgd_bits
from workers.quantizers.rng import uniform

D = 5000
G = (np.random.default_rng(4).standard_normal((3, D)) * np.r_[np.ones(D - 4), 0, 1e-40, 1e30, -1e-39]).astype(
    np.float32)


def test_omega_length_equals_the_vectorized_count():
    values = np.arange(1, 70000)
    assert [omega_length(int(v)) for v in values] == elias_omega_bits(values).tolist()


def test_qsgd_kernel_equals_its_definition_with_the_same_uniforms():
    compressor = QSGD(3, (0, D), seed=7, levels=16, bucket=512)
    message = compressor.encode(G[1], 1, 9, None)
    norms, levels, signs = message.payload
    u = uniform(7 ^ qsgd_module.SALT, 1, 9, D)
    per_element = np.repeat(norms.astype(np.float64), 512)[:D]
    ratio = np.divide(16 * np.abs(G[1].astype(np.float64)), per_element, out=np.zeros(D), where=per_element > 0)
    expected = np.floor(ratio) + (u < ratio - np.floor(ratio))
    assert np.array_equal(levels, expected.astype(np.int32)) and np.array_equal(signs, G[1] < 0)
    assert np.array_equal(norms, compressor._norms(G[1]).astype(np.float32))
    assert message.bits == qsgd_bits(levels, compressor.buckets, 512)
    mean = compressor.decode([compressor.encode(G[w], w, 9, None) for w in range(3)], 9, None)
    assert mean.dtype == np.float32 and mean.shape == (D,)


def test_natural_kernel_equals_natural_round_with_the_same_uniforms():
    message = Natural(3, (0, D), seed=5).encode(G[2], 2, 4, None)
    expected = natural_round(G[2], uniform(5 ^ natural_module.SALT, 2, 4, D))
    assert np.array_equal(message.payload[0], expected)


def test_terngrad_kernel_equals_its_definition_with_the_same_uniforms():
    compressor = TernGrad(3, (0, 1000, D), seed=2)
    shared = compressor.prepare(G)
    values = compressor.encode(G[0], 0, 3, shared).payload[0]
    s = np.repeat(shared, [1000, D - 1000])
    expected = np.sign(G[0]) * (uniform(2 ^ 0x7E2, 0, 3, D) < np.abs(G[0].astype(np.float64)) / s)
    assert np.array_equal(values, expected.astype(np.int32))


def test_signsgd_and_topk_decodes_equal_numpy_references():
    compressor = SignSGD(3, (0, 1000, D))
    messages = [compressor.encode(G[w], w, 0, None) for w in range(3)]
    votes = sum(2 * np.unpackbits(m.payload[0], count=D).astype(np.int32) - 1 for m in messages)
    scale = np.repeat(np.mean([m.payload[1] for m in messages], axis=0).astype(np.float32), [1000, D - 1000])
    assert np.array_equal(compressor.decode(messages, 0, None), np.where(votes >= 0, scale, -scale))
    topk = TopK(3, (0, D))
    messages = [topk.encode(G[w], w, 0, None) for w in range(3)]
    total = np.zeros(D)
    for indices, values in (m.payload for m in messages):
        np.add.at(total, indices, values)
    assert np.array_equal(topk.decode(messages, 0, None), (total / 3).astype(np.float32))
