"""One interface for every gradient compressor: encode -> what travels -> decode, and the collective it needs.

A training step with compressor ``c`` and n workers (`Compressor.reduce` does exactly this)::

    shared = c.prepare(gradients)                          # an extra small collective, or nothing
    messages = [c.encode(g[w], w, step, shared) for w in range(n)]   # what each worker sends
    mean = c.decode(messages, step, shared)                # what every worker computes from the collective
    c.observe(delta, learning_rate)                        # state for the next step (IntSGD's alpha)

Every `Message` carries its exact size on the wire in bits. Every compressor
names the collective it needs (`Collective`):

* ``"switch"``: an integer sum the switch computes (SwitchML elements of 8, 16 or 32 bits);
* ``"ring"``: a host ring all-reduce of elements of a fixed width (float32, or integers);
* ``"allgather"``: every worker receives every other worker's message as it is
  (compressed payloads that cannot be added without decoding).

and states, in ``switch_reason``, whether a programmable switch could sum it and why.
The traffic of one iteration is a list of `Transfer`s, which the study times on
the simulator (`switchsim.study.compare`).
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from switchsim.protocol import spec

Collective = Literal["switch", "ring", "allgather"]
COLLECTIVES: tuple[str, ...] = ("switch", "ring", "allgather")


@dataclass(frozen=True, slots=True)
class Transfer:
    """One collective of an iteration, per worker.

    Attributes:
        collective: "switch", "ring" or "allgather".
        elements: elements each worker contributes, >= 1.
        element_bits: bits of one element on the wire: 8, 16 or 32.
        per_model: True if its size grows with the model (False: a fixed small collective, e.g. a MAX).
    """

    collective: str
    elements: int
    element_bits: int
    per_model: bool = True

    def __post_init__(self) -> None:
        if self.collective not in COLLECTIVES:
            raise ValueError(f"Transfer.collective must be one of {COLLECTIVES}, got {self.collective!r}")
        if not (isinstance(self.elements, int) and self.elements >= 1):
            raise ValueError(f"Transfer.elements must be an integer >= 1, got {self.elements!r}")
        if self.element_bits not in spec.WIRE_ELEMENT_BITS:
            raise ValueError(
                f"Transfer.element_bits must be one of {spec.WIRE_ELEMENT_BITS}, got {self.element_bits!r}"
            )

    @property
    def bits(self) -> int:
        """Bits one worker sends in this transfer."""
        return self.elements * self.element_bits


def packed(bits: int) -> Transfer:
    """An all-gather of a ``bits``-bit message, packed into bytes (8-bit elements)."""
    return Transfer("allgather", max(1, math.ceil(bits / 8)), 8)


@dataclass(frozen=True, slots=True, eq=False)
class Message:
    """What one worker sends in one step.

    Attributes:
        payload: the arrays that travel (their meaning is the compressor's).
        bits: exact size on the wire in bits (headers of the transport not included).
        clipped: elements clipped while encoding (integer methods).
    """

    payload: tuple
    bits: int
    clipped: int = 0


@dataclass(slots=True)
class StepTraffic:
    """What one `Compressor.reduce` did: bits each worker sent, the transfers, clipped and overflowed elements."""

    bits_per_worker: float
    transfers: list[Transfer] = field(default_factory=list)
    clipped: int = 0
    overflowed: int = 0


class Compressor(ABC):
    """A gradient compressor for n workers with a fixed parameter layout.

    Lifecycle: construct with the layout, then per step `reduce` (or `prepare`,
    `encode` per worker, `decode`), then `observe` the update every worker applied.
    Per-worker memory (error feedback) lives in the compressor, indexed by worker.

    Class attributes:
        name: the method's name in the study (lower case).
        collective: the collective its main payload needs.
        switch_summable: True if an integer-summing switch can aggregate the payload.
        switch_reason: one sentence: why it can or cannot.
        unbiased: True if E[decoded mean] equals the mean of the inputs.
        momentum_before_reduce: True if each worker applies its momentum before compressing (signSGD's
            Signum); False (the default) if the workers send gradient + weight decay and the momentum acts on
            the aggregated mean, as the IntSGD authors' default (``mom_before_reduce=False``) and PowerSGD's
            Algorithm 2 (error feedback, where a method has it, then works on the raw gradient).
    """

    name: ClassVar[str]
    collective: ClassVar[Collective]
    switch_summable: ClassVar[bool]
    switch_reason: ClassVar[str]
    unbiased: ClassVar[bool]
    momentum_before_reduce: ClassVar[bool] = False

    def __init__(self, num_workers: int, layer_bounds: tuple[int, ...], seed: int = 0) -> None:
        if not 1 <= num_workers <= spec.MAX_WORKERS:
            raise ValueError(f"num_workers must be in 1..{spec.MAX_WORKERS}, got {num_workers!r}")
        if len(layer_bounds) < 2 or layer_bounds[0] != 0 or any(
            b <= a for a, b in itertools.pairwise(layer_bounds)
        ):
            raise ValueError(f"layer_bounds must increase strictly from 0, got {layer_bounds!r}")
        self.num_workers = num_workers
        self.layer_bounds = tuple(int(b) for b in layer_bounds)
        self.dim = self.layer_bounds[-1]
        self.seed = seed

    def prepare(self, gradients: np.ndarray) -> object:
        """State every worker needs before encoding, from an extra small collective (default: none)."""
        return None

    def prepare_transfers(self) -> list[Transfer]:
        """The extra collective of `prepare` (default: none)."""
        return []

    @abstractmethod
    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """Worker ``worker``'s message for its float32[d] ``gradient`` at ``step``."""

    @abstractmethod
    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """The mean gradient float32[d] every worker obtains from the collective of ``messages``."""

    @abstractmethod
    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """The main collective's transfers for these messages (all-gather: the largest message)."""

    def observe(self, delta: np.ndarray, learning_rate: float) -> None:  # noqa: B027 (a no-op by default)
        """Update state from the model update ``x^(k+1) - x^k`` every worker applied (default: nothing)."""

    def overflowed(self) -> int:
        """Elements whose integer sum overflowed in the last `decode` (switch methods; default 0)."""
        return 0

    def reduce(self, gradients: np.ndarray, step: int) -> tuple[np.ndarray, StepTraffic]:
        """The mean gradient float32[d] of ``gradients`` (n, d) float32 through this compressor, and its traffic."""
        gradients = np.ascontiguousarray(gradients, dtype=np.float32)
        if gradients.shape != (self.num_workers, self.dim):
            raise ValueError(f"gradients must have shape ({self.num_workers}, {self.dim}), got {gradients.shape}")
        shared = self.prepare(gradients)
        messages = [self.encode(gradients[w], w, step, shared) for w in range(self.num_workers)]
        mean = self.decode(messages, step, shared)
        clipped = sum(m.clipped for m in messages)
        return mean, StepTraffic(float(np.mean([m.bits for m in messages])),
                                 self.prepare_transfers() + self.transfers(messages), clipped, self.overflowed())
