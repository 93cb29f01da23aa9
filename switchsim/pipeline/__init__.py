"""The switch's aggregation semantics: registers, decision table, per-packet processing.

Pure and clock-free; imports nothing else of switchsim (engines build on it).
"""

from switchsim.pipeline.model import BatchResult, Pipeline
from switchsim.pipeline.state import SlotPool, SwitchConfig, new_slot_pool, wrapped_sum
from switchsim.pipeline.tables import Action, Counter

__all__ = ["Action", "BatchResult", "Counter", "Pipeline", "SlotPool", "SwitchConfig", "new_slot_pool", "wrapped_sum"]
