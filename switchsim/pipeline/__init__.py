"""The switch's aggregation semantics: registers, decision table, per-packet processing.

Pure and clock-free; imports only `switchsim.protocol` (engines build on it).
`next_step` decides, once for every driver, who receives a packet's reply.
"""

from switchsim.pipeline.model import BatchResult, Pipeline
from switchsim.pipeline.process import next_step
from switchsim.pipeline.state import SlotPool, SwitchConfig, new_slot_pool, wrapped_sum
from switchsim.pipeline.tables import Action, Counter, Recipients

__all__ = ["Action", "BatchResult", "Counter", "Pipeline", "Recipients", "SlotPool", "SwitchConfig", "new_slot_pool",
           "next_step", "wrapped_sum"]
