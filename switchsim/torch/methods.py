"""The hook's method and aggregation names, without torch (the command line validates with them).

Every method is one of the project's compressors (`workers.quantizers.compressors.COMPRESSORS`) on the
collective it needs, plus ``float32``: DDP's plain mean.
"""

from __future__ import annotations

from workers.quantizers.compressors import COMPRESSORS

#: Methods by name: the project's compressors plus the plain float32 all-reduce.
METHODS: tuple[str, ...] = ("float32", *(name for name in COMPRESSORS if name != "float32-ring"))
#: Methods whose integers a switch adds.
SWITCH_METHODS: tuple[str, ...] = tuple(name for name, c in COMPRESSORS.items()
                                        if c.collective == "switch" or name == "int8-ring")
#: Methods whose messages are all-gathered.
ALLGATHER_METHODS: tuple[str, ...] = tuple(name for name, c in COMPRESSORS.items() if c.collective == "allgather")
#: Where a switch method's integers are summed.
AGGREGATIONS: tuple[str, ...] = ("process-group", "switch", "bmv2")
#: Methods that take ``bits`` (the wire width of their integers).
BITS_METHODS: tuple[str, ...] = ("intsgd-random", "intsgd-deterministic", "heuristic", "int8-ring")
#: IntSGD's alpha: one for the model, or one per parameter tensor.
ALPHA_SCOPES: tuple[str, ...] = ("global", "layer")
