"""argparse value types whose errors name the allowed range (shared by every command)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def probability(text: str) -> float:
    """A probability in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), got {value}")
    return value


def ranged(low: int, high: int) -> Callable[[str], int]:
    """An integer in low..high."""

    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high}, got {value}")
        return value

    return parse


def seed(text: str) -> int:
    """A seed: an integer in 0..`switchsim.config.MAX_SEED` (the range a scenario's ``seed`` allows)."""
    from switchsim.config import MAX_SEED

    return ranged(0, MAX_SEED)(text)


def positive(text: str) -> float:
    """A number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def seconds_up_to(high: float) -> Callable[[str], float]:
    """A finite number of seconds in (0, high]."""

    def parse(text: str) -> float:
        value = float(text)
        if not 0 < value <= high:  # also rejects nan and inf
            raise argparse.ArgumentTypeError(f"must be a number of seconds in (0, {high:g}], got {text}")
        return value

    return parse
