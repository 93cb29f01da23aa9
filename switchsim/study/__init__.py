"""Studies built on the quantizers and the switch's integer arithmetic."""
