"""bmv2 meets the contract: compile p4/bmv2/switchml.p4 (faithful and hardened), run simple_switch, replay.

Every conformance vector of each mode is replayed on its build, byte for byte,
with none skipped (both packet sizes, k = 64 and k = 256). Skipped (with the
reason) where p4c / simple_switch are not on PATH or the test is not root (it
builds a network namespace with veth pairs). CI puts ../shared/p4-toolchain/bin
on PATH (.ci/run); docs/bmv2.md says how to install the tools elsewhere.
"""

import json

import pytest

from switchsim.conformance import vectors
from switchsim.p4gen import bmv2_runner
from tests.p4.conftest import REPLAY_LINES

pytestmark = [pytest.mark.p4c, pytest.mark.bmv2]
MODES = (False, True)


@pytest.mark.p4c
@pytest.mark.parametrize("hardened", MODES, ids=["faithful", "hardened"])
def test_program_compiles_and_matches_the_spec(bmv2_programs, hardened):
    document = json.loads(bmv2_programs[hardened].read_text())
    assert bmv2_runner.check_compiled(document, vectors.SLOTS, hardened) == []
    assert bmv2_runner.check_compiled(document, vectors.SLOTS, not hardened) != []
    tables = {t["name"]: t for pipeline in document["pipelines"] for t in pipeline["tables"]}
    entries = tables["SwitchMLIngress.next_step_selector.next_step"]["entries"]
    assert len(entries) == 4  # the decision table's const entries made it into the JSON


@pytest.mark.p4c
@pytest.mark.bmv2
@pytest.mark.parametrize("hardened", MODES, ids=["faithful", "hardened"])
def test_bmv2_replays_every_conformance_vector(bmv2_tools, bmv2_programs, bmv2_can_run, hardened):
    document = vectors.load()
    with bmv2_runner.Bmv2Switch(bmv2_tools, bmv2_programs[hardened], ports=3) as switch:
        report = bmv2_runner.replay(document, switch, program_slots=vectors.SLOTS, hardened=hardened)
    REPLAY_LINES.append(bmv2_runner.summary_line(report, hardened))
    assert report.mismatches == []
    assert report.skipped == []
    mine = [s for s in document["scenarios"] if s["switch"]["hardened"] == hardened]
    assert report.scenarios == len(mine) and report.scenarios >= 25
    assert {s["switch"]["elements_per_packet"] for s in mine} == {64, 256}
