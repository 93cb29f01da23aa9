"""Jobs sharing a fabric, each with its own method (issue 17, part 3): exact per job, engines equal,
slot allotments, slowdowns, the configuration's errors, and what `switchsim run` prints and writes."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict

import pytest

from switchsim.cli import main
from switchsim.config import ScenarioError, scenario_from_dict
from switchsim.sim import handlers as h
from switchsim.sim import transport
from switchsim.sim.tenants import build_shared_state, run_jobs, run_tenants, slot_allotments

FAULTS = {"loss": 0.02, "duplicate": 0.02, "reorder": 0.02, "reorder_delay_s": 3e-6, "duplicate_delay_s": 1e-6}


def tenants(job_methods, topology=None, link=None, elements=6000, window=16, slots=64, **top):
    document = {"job_methods": list(job_methods),
                "topology": topology or {"kind": "fat_tree", "k": 4, "jobs": len(job_methods)},
                "link": link or {}, "switch": {"slots": slots}, "switchml": {"window": window},
                "workload": {"elements": elements, "source": "synthetic"}, **top}
    return scenario_from_dict(document)


def without_wall_time(records):
    rows = []
    for record in records:
        row = asdict(record)
        row.pop("wall_time_s")
        rows.append(row)
    return rows


def test_every_job_is_exact_when_switchml_and_collectives_share_a_fat_tree():
    scenario = tenants(["switchml", "ring", "switchml", "allgather"])
    records = run_tenants(scenario)
    assert [(r.job, r.method) for r in records] == [(0, "switchml"), (1, "ring"), (2, "switchml"), (3, "allgather")]
    for record in records:
        assert record.completed and record.correct, record
        assert record.alone_time_s is not None and record.slowdown is not None


def test_the_shared_state_runs_switchml_hosts_and_collective_flows_side_by_side():
    scenario = tenants(["ring", "switchml", "tree", "switchml"])
    state, network = build_shared_state(scenario, frozenset(range(4)))
    groups = network.groups.tolist()
    switchml = state.hosts[:, h.H_SWITCHML]
    assert [int(switchml[g].sum()) for g in groups] == [0, 4, 0, 4]
    assert [int(x) for x in state.collective_groups[:, transport.GR_HOSTS]] == [4, 0, 4, 0]
    assert set(state.flows[:, transport.F_GROUP].tolist()) == {0, 2}
    assert state.counters[h.G_HOSTS_REMAINING] == 16
    # allotments: the first SwitchML job (job 1) owns slots 0..15, the second (job 3) 16..31
    assert {int(s) for s in state.hosts[groups[1], h.H_START_SLOT]} == {0}
    assert {int(s) for s in state.hosts[groups[3], h.H_START_SLOT]} == {16}
    alone, _ = build_shared_state(scenario, frozenset({3}))
    assert alone.hosts[:, h.H_SWITCHML].sum() == 4 and len(alone.flows) == 0
    assert {int(s) for s in alone.hosts[groups[3], h.H_START_SLOT]} == {16}  # the allotment does not move


def test_slot_allotments_follow_the_switchml_jobs_in_order():
    scenario = tenants(["ring", "switchml", "switchml", "ps"], window=8, slots=16, baselines={"servers": 2})
    allotments = slot_allotments(scenario)
    assert [(a.job, a.first_slot, a.slots) for a in allotments] == [(1, 0, 8), (2, 8, 8)]
    shape = scenario.topology.shape
    assert allotments[0].switches == tuple(sorted(shape.jobs[1].children))


@pytest.mark.parametrize("transport_name", list(transport.TRANSPORTS))
def test_both_engines_agree_on_every_job_under_loss_duplication_and_reordering(transport_name):
    scenario = tenants(["switchml", "ring", "ps", "switchml"], link=FAULTS, elements=3000,
                       baselines={"transport": transport_name, "servers": 2})
    every = frozenset(range(4))
    fast, _ = run_jobs(scenario, every, engine="fast")
    simpy, _ = run_jobs(scenario, every, engine="simpy")
    assert all(r.completed and r.correct for r in fast.values())
    assert sum(r.retransmissions for r in fast.values()) > 0
    assert without_wall_time(fast.values()) == without_wall_time(simpy.values())


@pytest.mark.parametrize("topology", [{"kind": "multi_job", "workers": 4, "jobs": 4},
                                      {"kind": "fat_tree", "k": 4, "jobs": 4}])
def test_jobs_that_share_no_link_do_not_slow_each_other(topology):
    """Jobs on one switch, or each in its own pod of a fat-tree: no link is shared, and the SwitchML jobs
    use separate allotments of one slot pool, so every job takes exactly as long shared as alone. (Before
    a flow's ECMP hash was its job's own, the all-gather took other paths alone than shared: 0.78x.)"""
    scenario = tenants(["switchml", "ring", "switchml", "allgather"], topology=topology)
    records = run_tenants(scenario)
    assert all(r.completed and r.correct for r in records)
    assert [r.slowdown for r in records] == [1.0, 1.0, 1.0, 1.0]


def test_interleaved_jobs_slow_each_other_down():
    """Two rings dealt host by host over a fat-tree: every ring hop crosses a ToR uplink that the other
    job's ring also uses, so each takes longer shared than alone (1.85x and 1.90x when written)."""
    scenario = scenario_from_dict({"job_methods": ["ring", "ring"],
                                   "topology": {"kind": "fat_tree", "k": 4, "jobs": 2, "placement": "interleaved"},
                                   "workload": {"elements": 40_000, "source": "synthetic"}})
    records = run_tenants(scenario)
    assert all(r.completed and r.correct for r in records)
    assert all(r.aggregation_time_s >= r.alone_time_s for r in records)
    assert max(r.slowdown for r in records) > 1.05


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"job_methods": ["switchml", "ring"]}, "job_methods", "one method per job: 4"),
    ({"job_methods": ["switchml", "rign", "ring", "ring"]}, "job_methods", "did you mean ring"),
    ({"workload": {"elements": 100, "source": "tensors"}}, "job_methods", 'source = "synthetic"'),
    ({"methods": ["ring"]}, "methods", "left out"),
    ({"switch": {"slots": 16}}, "switch.slots", "SwitchML jobs = 32"),
    ({"job_methods": ["switchml", "ring", "switchml", "ring"],
      "topology": {"kind": "fat_tree", "k": 4, "jobs": 4, "placement": "interleaved"}}, "job_methods",
     "jobs 0 and 2 both aggregate over the link into"),
])
def test_bad_job_methods_name_the_field_and_what_is_allowed(change, field, says):
    document = {"job_methods": ["switchml", "switchml", "ring", "ring"],
                "topology": {"kind": "fat_tree", "k": 4, "jobs": 4}, "switch": {"slots": 64},
                "switchml": {"window": 16}, "workload": {"elements": 100, "source": "synthetic"}}
    document.update(change)
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(document)
    assert field in str(error.value) and says in str(error.value)


def test_run_prints_each_jobs_slowdown_and_allotment_and_writes_one_row_per_job(tmp_path, capsys):
    path = tmp_path / "tenants.toml"
    path.write_text("""
name = "tenants"
job_methods = ["switchml", "ring", "switchml", "ring"]
[topology]
kind = "fat_tree"
k = 4
jobs = 4
[switch]
slots = 64
[switchml]
window = 16
[workload]
elements = 4096
source = "synthetic"
""")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 jobs sharing the fabric (switchml, ring, switchml, ring; then each alone)" in printed
    assert "slowdown" in printed and "slot allotments (32 of 64 slots per switch): job 0: slots 0..15" in printed
    assert "job 2: slots 16..31" in printed
    assert (out / "tenants.png").stat().st_size > 10_000
    with (out / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    summary = json.loads((out / "summary.json").read_text())
    assert [(row["job"], row["method"]) for row in rows] == [("0", "switchml"), ("1", "ring"), ("2", "switchml"),
                                                               ("3", "ring")]
    for row, record in zip(rows, summary["results"], strict=True):
        assert row["outcome"] == "exact"
        assert float(row["slowdown"]) == record["slowdown"] == pytest.approx(
            record["aggregation_time_s"] / record["alone_time_s"])
    assert summary["speedups"] == {}


def test_a_capture_of_jobs_sharing_a_fabric_is_refused_not_silently_skipped(tmp_path, capsys):
    path = tmp_path / "tenants.toml"
    path.write_text('job_methods = ["switchml", "ring"]\n[topology]\nkind = "multi_job"\nworkers = 2\njobs = 2\n'
                    '[switch]\nslots = 64\n[switchml]\nwindow = 16\n[workload]\nelements = 100\nsource = "synthetic"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--pcap", str(tmp_path / "x.pcap")]) == 2
    assert "--pcap" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.pcap").exists()
