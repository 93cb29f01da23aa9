"""Trees of any depth: hosts under ToRs under one or more tiers of switches, up to a single root.

``fanout = (f0, f1, ..., fd)``: ``f0`` hosts per ToR, ``f1`` ToRs per tier-1 switch, ...,
``fd`` switches under the root. ``(16, 16, 16)`` is 4,096 hosts, ``(32, 32, 32)`` 32,768.
SwitchML aggregates at every level (each switch sums at most 32 children). The
shipped shapes ``one_rack``, ``multi_job`` and ``two_level`` are trees too, and
are built here with their own switch names.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import TYPE_CHECKING

from switchsim.topology.jobs import aggregation_tree, split_jobs
from switchsim.topology.model import Link, Switch, Topology, TopologyError

if TYPE_CHECKING:
    from switchsim.config import LinkConfig, TopologyConfig

#: Most hosts one topology may describe.
MAX_HOSTS = 1 << 16


def tree_topology(kind: str, fanout: Sequence[int], link: LinkConfig, jobs: int = 1,
                  names: Sequence[Sequence[str]] | None = None, oversubscription: float = 1.0,
                  placement: str = "blocks") -> Topology:
    """A tree with ``fanout`` (hosts per ToR first), ``jobs`` equal jobs placed by ``placement`` (`split_jobs`).

    ``names[tier][i]`` names the switches (default ``tor{i}``, ``t{tier}-{i}``, ``root``).
    ToR uplinks run at ``link.rate_bps / oversubscription``; every other link at ``link.rate_bps``.
    """
    hosts = prod(fanout)
    if hosts > MAX_HOSTS:
        raise TopologyError(f"topology.fanout = {list(fanout)} is out of range: at most {MAX_HOSTS} hosts "
                            f"(product of the fan-outs), got {hosts}")
    per_tier = [hosts // prod(fanout[: t + 1]) for t in range(len(fanout))]  # switches at each tier
    first = [sum(per_tier[:t]) for t in range(len(fanout))]  # index of each tier's first switch
    count = sum(per_tier)

    def name(tier: int, i: int) -> str:
        if names is not None:
            return names[tier][i]
        if tier == 0:
            return f"tor{i}"
        return "root" if per_tier[tier] == 1 else f"t{tier}-{i}"

    switches = []
    for tier, size in enumerate(per_tier):
        below = fanout[tier]
        for i in range(size):
            if tier == 0:
                children = tuple(range(i * below, (i + 1) * below))
            else:
                children = tuple(hosts + first[tier - 1] + i * below + c for c in range(below))
            parents = (first[tier + 1] + i // fanout[tier + 1],) if tier + 1 < len(fanout) else ()
            switches.append(Switch(name(tier, i), tier, children, parents))
    host_switch = tuple(h // fanout[0] for h in range(hosts))
    links = [Link(h, hosts + host_switch[h], link.rate_bps, link.delay_s, link.queue_bytes) for h in range(hosts)]
    for s in range(per_tier[0], count):  # every switch above tier 0 in index order, its children in port order
        for child in switches[s].children:
            rate = link.rate_bps / oversubscription if switches[s].tier == 1 else link.rate_bps
            links.append(Link(child, hosts + s, rate, link.delay_s, link.queue_bytes))
    links = _ordered_by_lower(links, hosts)
    trees = tuple(aggregation_tree(kind, switches, host_switch, group, j)
                  for j, group in enumerate(split_jobs(hosts, jobs, placement=placement)))
    return Topology(kind=kind, host_switch=host_switch, switches=tuple(switches), links=tuple(links), jobs=trees)


def _ordered_by_lower(links: list[Link], hosts: int) -> list[Link]:
    """Host links as given, then switch links by their lower switch (ToR 0's uplink first, as two_level had)."""
    return links[:hosts] + sorted(links[hosts:], key=lambda link: (link.lower, link.upper))


def build_tree(config: TopologyConfig, link: LinkConfig) -> Topology:
    """``kind = "tree"``: ``fanout``, ``jobs``, ``oversubscription``, ``placement``."""
    fanout = tuple(config.fanout)
    if not fanout or not all(isinstance(f, int) and not isinstance(f, bool) and 1 <= f <= 32 for f in fanout):
        raise TopologyError(f"topology.fanout = {list(fanout)} is out of range: must be a non-empty list of integers "
                            "in 1..32 (hosts per ToR first, then switches per switch, up to the root)")
    return tree_topology("tree", fanout, link, jobs=config.jobs, oversubscription=config.oversubscription,
                         placement=config.placement)


def build_one_rack(config: TopologyConfig, link: LinkConfig) -> Topology:
    """``kind = "one_rack"``: ``workers`` hosts on switch ``sw0``, one job."""
    return tree_topology("one_rack", (config.workers,), link, names=[["sw0"]])


def build_multi_job(config: TopologyConfig, link: LinkConfig) -> Topology:
    """``kind = "multi_job"``: ``jobs`` jobs of ``workers`` hosts sharing switch ``sw0``."""
    return tree_topology("multi_job", (config.workers * config.jobs,), link, jobs=config.jobs, names=[["sw0"]])


def build_two_level(config: TopologyConfig, link: LinkConfig) -> Topology:
    """``kind = "two_level"``: ``racks`` racks of ``workers`` hosts, ToRs ``tor{r}`` under one ``spine``, one job."""
    if config.racks < 1:
        raise TopologyError(f"topology.racks = {config.racks} is out of range: must be >= 1")
    return tree_topology("two_level", (config.workers, config.racks), link,
                         names=[[f"tor{r}" for r in range(config.racks)], ["spine"]],
                         oversubscription=config.oversubscription)
