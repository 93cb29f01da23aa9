"""bmv2 meets the contract: compile p4/bmv2/switchml.p4, run simple_switch, replay the conformance vectors.

Skipped (with the reason) where p4c / simple_switch are not on PATH or the
test is not root (it builds a network namespace with veth pairs). See
docs/bmv2.md for installing them.
"""

import json

import pytest

from switchsim.conformance import vectors
from switchsim.p4gen import bmv2_runner

pytestmark = [pytest.mark.p4c, pytest.mark.bmv2]


@pytest.fixture(scope="module")
def tools():
    found, missing = bmv2_runner.find_tools()
    if found is None:
        pytest.skip(f"bmv2 toolchain not on PATH: {', '.join(missing)} (install p4c and behavioral-model: docs/bmv2.md)")
    return found


@pytest.fixture(scope="module")
def program_json(tools, tmp_path_factory):
    return bmv2_runner.compile_program(tools.compiler, tmp_path_factory.mktemp("bmv2"), slots=vectors.SLOTS)


@pytest.mark.p4c
def test_program_compiles_and_matches_the_spec(program_json):
    assert bmv2_runner.check_compiled(json.loads(program_json.read_text()), vectors.SLOTS) == []


@pytest.mark.p4c
@pytest.mark.bmv2
def test_bmv2_replays_every_conformance_vector(tools, program_json):
    reason = bmv2_runner.can_run_bmv2()
    if reason:
        pytest.skip(f"cannot run simple_switch here: {reason}")
    document = vectors.load()
    with bmv2_runner.Bmv2Switch(tools, program_json, ports=3) as switch:
        report = bmv2_runner.replay(document, switch, program_slots=vectors.SLOTS)
    assert report.mismatches == []
    runnable = [s for s in document["scenarios"] if s["switch"]["elements_per_packet"] == 64]
    assert report.scenarios == len(runnable) and report.scenarios >= 20
    assert all("k = 256" in line for line in report.skipped)
