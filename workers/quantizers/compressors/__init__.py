"""Gradient compressors on one interface (`base.Compressor`): what travels, its exact bits, the collective.

`COMPRESSORS` maps the study's method names to their classes. See docs/quantizers.md.
"""

from workers.quantizers.compressors.base import COLLECTIVES, Compressor, Message, StepTraffic, Transfer
from workers.quantizers.compressors.integer_methods import (
    BlockExponentMethod,
    Heuristic,
    HeuristicSumInWire,
    IntSGDDeterministic,
    IntSGDRandom,
    TernGrad,
)
from workers.quantizers.compressors.natural import Natural
from workers.quantizers.compressors.powersgd import PowerSGD
from workers.quantizers.compressors.qsgd import QSGD
from workers.quantizers.compressors.references import Float32Ring, Int8Ring
from workers.quantizers.compressors.signsgd import SignSGD
from workers.quantizers.compressors.topk import TopK

#: The compared methods, in the table's order (name -> class).
COMPRESSORS: dict[str, type[Compressor]] = {c.name: c for c in (
    IntSGDRandom, IntSGDDeterministic, Heuristic, BlockExponentMethod, TernGrad, SignSGD, Natural, QSGD, TopK,
    PowerSGD, Float32Ring, Int8Ring)}
#: Further variants available by name (not in the default comparison).
VARIANTS: dict[str, type[Compressor]] = {HeuristicSumInWire.name: HeuristicSumInWire}

__all__ = [
    "COLLECTIVES",
    "COMPRESSORS",
    "QSGD",
    "VARIANTS",
    "BlockExponentMethod",
    "Compressor",
    "Float32Ring",
    "Heuristic",
    "HeuristicSumInWire",
    "Int8Ring",
    "IntSGDDeterministic",
    "IntSGDRandom",
    "Message",
    "Natural",
    "PowerSGD",
    "SignSGD",
    "StepTraffic",
    "TernGrad",
    "TopK",
    "Transfer",
]
