"""scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes): split, standardise, shard.

The data ships inside scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """A train/test split: float32 features (samples, 64) and int64 labels (samples,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int, test_fraction: float = 0.2) -> Dataset:
    """The digits, shuffled by ``seed`` and split; features standardised with the train mean and std.

    Features with zero train variance (always-blank pixels) are centred and left unscaled.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng([seed, 0xD161]).permutation(len(digits.target))
    x, y = digits.data[order].astype(np.float64), digits.target[order].astype(np.int64)
    test = round(len(y) * test_fraction)
    x_train, x_test = x[test:], x[:test]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    return Dataset(((x_train - mean) / std).astype(np.float32), y[test:],
                   ((x_test - mean) / std).astype(np.float32), y[:test])


def shards(samples: int, workers: int) -> list[np.ndarray]:
    """Contiguous index ranges, one per worker, as equal as possible (each worker trains on its own).

    Example:
        >>> [len(s) for s in shards(10, 3)]
        [4, 3, 3]
    """
    if not 1 <= workers <= samples:
        raise ValueError(f"workers must be in 1..{samples} (one sample each at least), got {workers!r}")
    return np.array_split(np.arange(samples), workers)
