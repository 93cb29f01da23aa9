"""Small classifiers in numpy, their parameters one flat float32 vector: softmax regression and an MLP.

A model is a stack of dense layers (ReLU between them, softmax cross-entropy
on top). Parameters are one contiguous float32 vector so a gradient is exactly
what a worker all-reduces; `Model.layer_bounds` gives each tensor's slice,
which IntSGD's per-layer alpha uses.

* ``softmax``: 64 -> 10 (650 parameters);
* ``mlp``: 64 -> 32 (ReLU) -> 10 (2,410 parameters).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

MODELS: dict[str, tuple[int, ...]] = {"softmax": (), "mlp": (32,)}


@dataclass(frozen=True, slots=True)
class Model:
    """Layer widths ``(inputs, hidden..., classes)`` of a dense classifier.

    Attributes:
        name: "softmax" or "mlp".
        widths: units per layer, inputs first, classes last.
    """

    name: str
    widths: tuple[int, ...]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the tensors in the flat vector: W1, b1, W2, b2, ... (W is inputs x outputs)."""
        return [shape for a, b in itertools.pairwise(self.widths) for shape in ((a, b), (b,))]

    @property
    def layer_bounds(self) -> tuple[int, ...]:
        """Element boundaries ``0 = b_0 < ... < b_T = d`` of each tensor in the flat vector."""
        return tuple(int(v) for v in np.cumsum([0] + [int(np.prod(s)) for s in self.shapes]))

    @property
    def dim(self) -> int:
        """d, the number of parameters."""
        return self.layer_bounds[-1]

    def tensors(self, params: np.ndarray) -> list[np.ndarray]:
        """Views of ``params`` as the model's tensors (no copies)."""
        bounds = self.layer_bounds
        pairs = zip(bounds[:-1], bounds[1:], self.shapes, strict=True)
        return [params[lo:hi].reshape(shape) for lo, hi, shape in pairs]


def make_model(name: str, inputs: int = 64, classes: int = 10) -> Model:
    """The model called ``name`` (a key of `MODELS`) for ``inputs`` features and ``classes`` classes.

    Example:
        >>> make_model("softmax").dim, make_model("mlp").dim
        (650, 2410)
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {tuple(MODELS)}, got {name!r}")
    return Model(name, (inputs, *MODELS[name], classes))


def init_params(model: Model, seed: int) -> np.ndarray:
    """He-initialised weights (normal, variance 2 / inputs) and zero biases, float32[d]."""
    rng = np.random.default_rng([seed, 0x5EED])
    params = np.zeros(model.dim, np.float32)
    for tensor in model.tensors(params):
        if tensor.ndim == 2:
            tensor[...] = rng.standard_normal(tensor.shape) * np.sqrt(2.0 / tensor.shape[0])
    return params


def _forward(model: Model, params: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits and the activations entering each layer."""
    tensors = model.tensors(params)
    activations = [x]
    a = x
    layers = len(tensors) // 2
    for i in range(layers):
        z = a @ tensors[2 * i] + tensors[2 * i + 1]
        a = np.maximum(z, 0) if i < layers - 1 else z
        if i < layers - 1:
            activations.append(a)
    return a, activations


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def loss_and_gradient(model: Model, params: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy (nats) of the batch and its gradient, float32[d].

    Args:
        params: float32[d].
        x: float32 (batch, inputs).
        y: int class labels (batch,).
    """
    logits, activations = _forward(model, params, x)
    log_probabilities = _log_softmax(logits)
    batch = len(x)
    loss = -float(log_probabilities[np.arange(batch), y].mean())
    delta = np.exp(log_probabilities)
    delta[np.arange(batch), y] -= 1
    delta /= batch
    gradient = np.empty(model.dim, np.float32)
    grads = model.tensors(gradient)
    weights = model.tensors(params)[0::2]
    for i in range(len(weights) - 1, -1, -1):
        grads[2 * i][...] = activations[i].T @ delta
        grads[2 * i + 1][...] = delta.sum(axis=0)
        if i:
            delta = (delta @ weights[i].T) * (activations[i] > 0)
    return loss, gradient


def evaluate(model: Model, params: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy in nats, accuracy in 0..1) on ``x``, ``y``."""
    logits, _ = _forward(model, params, x)
    loss = -float(_log_softmax(logits)[np.arange(len(x)), y].mean())
    return loss, float((logits.argmax(axis=1) == y).mean())
