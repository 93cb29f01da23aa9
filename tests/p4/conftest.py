"""The bmv2 toolchain and the two compiled builds, shared by the p4c/bmv2 tests of this folder.

Skipped with the reason where p4c / simple_switch are not on PATH (CI puts
../shared/p4-toolchain/bin there: .ci/run; elsewhere docs/bmv2.md says how to
install them). Compiling takes p4c about 25 s per build; both builds compile
side by side, once per session.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from switchsim.conformance import vectors
from switchsim.p4gen import bmv2_runner

MODES = (False, True)  #: hardened?


@pytest.fixture(scope="session")
def bmv2_tools():
    found, missing = bmv2_runner.find_tools()
    if found is None:
        pytest.skip(f"bmv2 toolchain not on PATH: {', '.join(missing)} (install p4c and behavioral-model: docs/bmv2.md)")
    return found


@pytest.fixture(scope="session")
def bmv2_programs(bmv2_tools, tmp_path_factory):
    """{hardened: compiled JSON} for the faithful and the hardened build, SWITCHML_SLOTS = vectors.SLOTS."""
    folder = tmp_path_factory.mktemp("bmv2")
    with ThreadPoolExecutor(len(MODES)) as pool:
        jobs = {hardened: pool.submit(bmv2_runner.compile_program, bmv2_tools.compiler, folder, slots=vectors.SLOTS,
                                      hardened=hardened) for hardened in MODES}
        return {hardened: job.result() for hardened, job in jobs.items()}


@pytest.fixture
def bmv2_can_run():
    reason = bmv2_runner.can_run_bmv2()
    if reason:
        pytest.skip(f"cannot run simple_switch here: {reason}")


#: Result lines of the bmv2 replays, printed at the end of the run (CI's output shows them).
REPLAY_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    """Show each bmv2 replay's summary (scenarios, frames, mismatches, skipped) after the test results."""
    if REPLAY_LINES:
        terminalreporter.section("bmv2 conformance replay")
        for line in REPLAY_LINES:
            terminalreporter.write_line(line)
