"""Each job's SwitchML aggregation tree, found by climbing pinned uplinks from its hosts."""

from __future__ import annotations

from collections.abc import Sequence

from switchsim.topology.model import MAX_CHILDREN, JobTree, Switch, TopologyError


def aggregation_tree(kind: str, switches: Sequence[Switch], host_switch: Sequence[int], hosts: Sequence[int],
                     job: int) -> JobTree:
    """The tree job ``job`` aggregates on: every switch sends its partial sum to one pinned parent.

    The job's hosts report to their own switches; then, tier by tier, each
    switch in the tree sends up to parent ``parents[job % len(parents)]`` (a
    job's uplinks are pinned, as SwitchML needs one tree, and different jobs
    spread over the spines) until one switch holds every host: the root.
    Children keep bitmap order: hosts in the job's order, switches by index.

    Raises:
        TopologyError: a switch would aggregate more than 32 children (the bitmap's width), or the
            hosts have no common ancestor.
    """
    hosts_of_switch: dict[int, list[int]] = {}
    for host in hosts:
        hosts_of_switch.setdefault(host_switch[host], []).append(host)
    hosts_count = len(host_switch)
    children: dict[int, tuple[int, ...]] = {s: tuple(members) for s, members in hosts_of_switch.items()}
    parent: dict[int, int] = {}
    current = set(hosts_of_switch)
    while len(current) > 1:
        tier = min(switches[s].tier for s in current)
        climbing = sorted(s for s in current if switches[s].tier == tier)
        for switch in climbing:
            parents = switches[switch].parents
            if not parents:
                raise TopologyError(f"{kind}: job {job}'s hosts have no common switch above them")
            up = parents[job % len(parents)]
            parent[switch] = up
            children[up] = (*children.get(up, ()), hosts_count + switch)
            current.discard(switch)
            current.add(up)
    for switch, below in children.items():
        if len(below) > MAX_CHILDREN:
            raise TopologyError(f"{kind}: job {job} would have switch {switches[switch].name} aggregate "
                                f"{len(below)} children; the worker bitmap holds at most {MAX_CHILDREN}")
    return JobTree(hosts=tuple(hosts), children=children, parent=parent, root=next(iter(current)))


#: How a topology's hosts are dealt to its jobs (``topology.placement``).
PLACEMENTS = ("blocks", "interleaved")


def split_jobs(hosts: int, jobs: int, field: str = "topology.jobs", placement: str = "blocks") -> list[list[int]]:
    """``jobs`` equal jobs of hosts, in host order within each job.

    ``blocks``: consecutive blocks (job j: hosts ``j*hosts/jobs ..``), as a scheduler that packs jobs into
    whole racks and pods places them; ``interleaved``: host h belongs to job ``h mod jobs`` (every rack
    holds hosts of every job, as in a fragmented cluster), so the jobs share every tier's links.

    Example:
        >>> split_jobs(6, 2), split_jobs(6, 2, placement="interleaved")
        ([[0, 1, 2], [3, 4, 5]], [[0, 2, 4], [1, 3, 5]])
    """
    if not 1 <= jobs <= hosts or hosts % jobs:
        raise TopologyError(f"{field} = {jobs} is out of range: must divide the {hosts} hosts into equal jobs")
    if placement not in PLACEMENTS:
        raise TopologyError(f"topology.placement = {placement!r} is out of range: must be one of {PLACEMENTS}")
    size = hosts // jobs
    if placement == "interleaved":
        return [list(range(j, hosts, jobs)) for j in range(jobs)]
    return [list(range(j * size, (j + 1) * size)) for j in range(jobs)]
