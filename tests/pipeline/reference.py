"""An independent, deliberately naive model of the switch (faithful mode), for cross-checks.

Written from the protocol reference's prose with Python ints and dicts; it
shares no code with switchsim.pipeline.
"""

from dataclasses import dataclass, field


@dataclass
class ReferenceSet:
    bitmap: int = 0
    counter: int = 0
    values: list[int] = field(default_factory=list)
    e0: int = 0
    e1: int = 0


class ReferenceSwitch:
    def __init__(self, slots: int, k: int):
        self.k = k
        self.sets = {(s, x): ReferenceSet(values=[0] * k) for s in range(slots) for x in (0, 1)}

    def packet(self, worker: int, n: int, slot: int, x: int, e0: int, e1: int, values: list[int]):
        me = 1 << worker
        this, other = self.sets[(slot, x)], self.sets[(slot, 1 - x)]
        old = this.bitmap
        this.bitmap |= me
        other.bitmap &= ~me
        if old & me:
            if this.counter == 0:
                return "unicast", list(this.values), (this.e0, this.e1)
            return "drop", None, None
        read = this.counter
        this.counter = n - 1 if read == 0 else read - 1
        if old == 0:
            this.values = list(values)
            this.e0, this.e1 = e0, e1
        else:
            wrapped = []
            for a, b in zip(this.values, values, strict=True):
                s = (a + b) & 0xFFFFFFFF
                wrapped.append(s - (1 << 32) if s >= 1 << 31 else s)
            this.values = wrapped
            this.e0, this.e1 = max(this.e0, e0), max(this.e1, e1)
        if n == 1 or read == 1:
            return "multicast", list(this.values), (this.e0, this.e1)
        return "consume", None, None
