"""The simulated world, declared once: `Topology` and its registered builders (`registry.BUILDERS`)."""

from switchsim.topology.model import MAX_CHILDREN, JobTree, Link, Switch, Topology, TopologyError
from switchsim.topology.registry import BUILDERS, TopologyBuilder, build_topology

__all__ = ["BUILDERS", "MAX_CHILDREN", "JobTree", "Link", "Switch", "Topology", "TopologyBuilder", "TopologyError",
           "build_topology"]
