"""Three-tier k-ary fat-trees (Al-Fares et al., SIGCOMM 2008): pods of ToRs and aggregation switches, and cores.

``k`` pods; each has ``k/2`` ToRs (``p{p}-tor{t}``) with ``k/2`` hosts each and
``k/2`` aggregation switches (``p{p}-agg{a}``); ``(k/2)^2`` cores, core
``(i, j)`` (``core{i*k/2+j}``) joined to aggregation switch ``i`` of every pod.
``k^3/4`` hosts: k = 16 gives 1,024. Every ToR joins every aggregation switch of
its pod. Paths go up by ECMP (a flow hash picks the parent at each tier) to the
lowest tier that covers the destination, then down the only way.

``oversubscription = r`` makes a ToR's host-facing bandwidth r times its uplink
bandwidth: the ToR-to-aggregation links run at ``rate_bps / r`` (same fabric,
thinner uplinks). SwitchML jobs aggregate on pinned uplinks: job j's ToRs send to
aggregation switch ``j mod k/2`` of their pod, which sends to core ``(j mod k/2,
j mod k/2)``; a job inside one rack or one pod stops at its ToR or aggregation switch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchsim.topology.jobs import aggregation_tree, split_jobs
from switchsim.topology.model import Link, Switch, Topology, TopologyError

if TYPE_CHECKING:
    from switchsim.config import LinkConfig, TopologyConfig


def fat_tree_topology(k: int, link: LinkConfig, jobs: int = 1, oversubscription: float = 1.0,
                      placement: str = "blocks") -> Topology:
    """The k-ary fat-tree (see module docstring); ``placement`` deals the hosts to the jobs (`split_jobs`)."""
    half = k // 2
    hosts = k * half * half
    tors, aggregations = k * half, k * half
    first_aggregation, first_core = tors, tors + aggregations

    def tor(pod: int, t: int) -> int:
        return pod * half + t

    def aggregation(pod: int, a: int) -> int:
        return first_aggregation + pod * half + a

    switches: list[Switch] = []
    for pod in range(k):
        for t in range(half):
            children = tuple(range((pod * half + t) * half, (pod * half + t + 1) * half))
            parents = tuple(aggregation(pod, a) for a in range(half))
            switches.append(Switch(f"p{pod}-tor{t}", 0, children, parents))
    for pod in range(k):
        for a in range(half):
            children = tuple(hosts + tor(pod, t) for t in range(half))
            parents = tuple(first_core + a * half + j for j in range(half))
            switches.append(Switch(f"p{pod}-agg{a}", 1, children, parents))
    for i in range(half):
        for j in range(half):
            children = tuple(hosts + aggregation(pod, i) for pod in range(k))
            switches.append(Switch(f"core{i * half + j}", 2, children, ()))
    host_switch = tuple(h // half for h in range(hosts))
    links = [Link(h, hosts + host_switch[h], link.rate_bps, link.delay_s, link.queue_bytes) for h in range(hosts)]
    for s in range(tors):
        for parent in switches[s].parents:
            links.append(Link(hosts + s, hosts + parent, link.rate_bps / oversubscription, link.delay_s,
                              link.queue_bytes))
    for s in range(first_aggregation, first_core):
        for parent in switches[s].parents:
            links.append(Link(hosts + s, hosts + parent, link.rate_bps, link.delay_s, link.queue_bytes))
    trees = tuple(aggregation_tree("fat_tree", switches, host_switch, group, j)
                  for j, group in enumerate(split_jobs(hosts, jobs, placement=placement)))
    return Topology(kind="fat_tree", host_switch=host_switch, switches=tuple(switches), links=tuple(links),
                    jobs=trees)


def build_fat_tree(config: TopologyConfig, link: LinkConfig) -> Topology:
    """``kind = "fat_tree"``: ``k``, ``oversubscription``, ``jobs``, ``placement``."""
    k = config.k
    if not (isinstance(k, int) and not isinstance(k, bool) and 2 <= k <= 64 and k % 2 == 0):
        raise TopologyError(f"topology.k = {k!r} is out of range: must be an even integer in 2..64 "
                            "(k pods, k^3/4 hosts: k = 16 is 1,024)")
    return fat_tree_topology(k, link, jobs=config.jobs, oversubscription=config.oversubscription,
                             placement=config.placement)
