"""``switchsim emulate --target bmv2``: real worker processes aggregate a small tensor through bmv2 under loss."""

import pytest

from switchsim.conformance import vectors
from switchsim.emu import bmv2_target
from switchsim.emu.run import add_emulate_parser

pytestmark = [pytest.mark.p4c, pytest.mark.bmv2]


def test_workers_aggregate_exactly_through_bmv2_with_loss(bmv2_programs, bmv2_can_run):
    elements = 64 * 30 + 5  # 31 packets per worker, the last one partial
    summary = bmv2_target.emulate_bmv2(2, elements, loss=0.1, seed=3, window=vectors.SLOTS, timeout_s=0.2,
                                       max_wall_s=120.0, program_json=bmv2_programs[False])
    assert summary["correct"], summary["error"]
    assert summary["switch"]["broadcast"] == 31  # every set completed exactly once
    assert summary["injected_losses"] > 0 and summary["retransmissions"] >= summary["injected_losses"]
    assert summary["switch_packets"] > 2 * 31 and summary["packets_per_s"] > 0


def test_emulate_parser_takes_the_bmv2_target():
    import argparse

    parser = argparse.ArgumentParser(prog="switchsim")
    add_emulate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["emulate", "--target", "bmv2", "--workers", "2"])
    assert (args.target, args.window, args.timeout) == ("bmv2", None, None)
    assert bmv2_target.BMV2_WINDOW == 16 and bmv2_target.BMV2_TIMEOUT_S == 0.3


def test_workers_aggregate_exactly_through_the_hardened_build(bmv2_programs, bmv2_can_run):
    """switchsim's workers write tsi as the official client (packet id little-endian): the hardened build's
    byte-swapped comparison keeps every chunk in order past packet id 0xFF (300 packets over 8 slots)."""
    elements = 64 * 300
    summary = bmv2_target.emulate_bmv2(2, elements, loss=0.05, seed=4, window=vectors.SLOTS, timeout_s=0.2,
                                       max_wall_s=180.0, program_json=bmv2_programs[True], hardened=True)
    assert summary["correct"], summary["error"]
    assert summary["switch"]["broadcast"] == 300
