"""Topology builders by name: ``[topology] kind = NAME`` picks one; a new shape is one module plus one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from switchsim.topology.fat_tree import build_fat_tree
from switchsim.topology.model import Topology
from switchsim.topology.tree import build_multi_job, build_one_rack, build_tree, build_two_level

if TYPE_CHECKING:
    from switchsim.config import LinkConfig, TopologyConfig


@dataclass(frozen=True, slots=True)
class TopologyBuilder:
    """One registered shape.

    Attributes:
        build: ``(TopologyConfig, LinkConfig) -> Topology``; raises `TopologyError` naming the field.
        parameters: the ``[topology]`` fields it reads (any other field set in a scenario is an error).
        summary: one line for ``--help`` and the docs.
    """

    build: Callable[[TopologyConfig, LinkConfig], Topology]
    parameters: tuple[str, ...]
    summary: str


BUILDERS: dict[str, TopologyBuilder] = {
    "one_rack": TopologyBuilder(build_one_rack, ("workers",), "workers hosts on one switch"),
    "two_level": TopologyBuilder(build_two_level, ("workers", "racks", "oversubscription"),
                                 "racks x workers hosts, ToRs under one spine"),
    "multi_job": TopologyBuilder(build_multi_job, ("workers", "jobs"), "jobs x workers hosts sharing one switch"),
    "fat_tree": TopologyBuilder(build_fat_tree, ("k", "oversubscription", "jobs", "placement"),
                                "k-ary three-tier fat-tree (k^3/4 hosts), ECMP, r:1 at the ToR uplinks"),
    "tree": TopologyBuilder(build_tree, ("fanout", "oversubscription", "jobs", "placement"),
                            "a tree of any depth: fanout = [hosts per ToR, ToRs per switch, ...]"),
}


@lru_cache(maxsize=64)
def build_topology(config: TopologyConfig, link: LinkConfig) -> Topology:
    """The `Topology` of ``config`` with ``link``'s rates, delays and queues (cached: configs are frozen)."""
    return BUILDERS[config.kind].build(config, link)
