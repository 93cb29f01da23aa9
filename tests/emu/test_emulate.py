"""End to end: the emulator switch and worker processes on loopback, exact sums, pcap, the CLI."""

import argparse
import json
import time

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from switchsim.emu import run
from switchsim.emu.run import add_emulate_parser, emulate
from switchsim.pipeline import wrapped_sum
from switchsim.protocol import spec
from switchsim.protocol.scapy_layer import SwitchML, SwitchMLData, SwitchMLExponents, bind_switchml_layers
from workers.client import make_tensor


@pytest.mark.network
@pytest.mark.parametrize("loss", [0.0, 0.05])
def test_three_workers_get_the_exact_sum(loss):
    summary = emulate(3, 20_000, loss=loss, seed=1, max_wall_s=45.0)
    assert summary["error"] is None
    assert summary["correct"] is True and summary["completed"] is True
    assert (summary["workers"], summary["elements"]) == (3, 20_000)
    assert summary["packets_per_s"] > 0
    packets = -(-20_000 // 64)
    assert summary["switch"]["pipeline"]["broadcast"] == packets
    assert summary["switch_address"][1] in spec.UDP_PORTS
    assert summary["switch"]["drops"]["internal_error"] == 0
    if loss:
        assert summary["injected_losses"] > 0 and summary["retransmissions"] > 0


@pytest.mark.network
def test_pcap_dissects_with_the_project_layer(tmp_path):
    path = tmp_path / "emu.pcap"
    workers, elements = 2, 300  # 5 packets per worker, the last one padded
    summary = emulate(workers, elements, seed=3, pcap=str(path), max_wall_s=45.0)
    assert summary["correct"], summary["error"]
    bind_switchml_layers()
    frames = rdpcap(str(path))
    assert len(frames) == summary["switch"]["pcap_frames"] > 0
    expected = np.zeros(5 * 64, np.int32)
    expected[:elements] = wrapped_sum(np.stack([make_tensor(3, w, elements) for w in range(workers)]))
    switch_port = summary["switch_address"][1]
    requests = replies = 0
    for frame in frames:
        assert Ether in frame and IP in frame and SwitchML in frame and SwitchMLData in frame
        header = frame[SwitchML]
        assert header.size == spec.size_for_elements(64) and len(frame[SwitchMLData].values) == 64
        if frame[UDP].dport == switch_port:
            requests += 1
            assert frame[UDP].chksum != 0
        else:
            replies += 1
            assert frame[UDP].sport == switch_port and frame[UDP].chksum == 0 and header.msg_type == 1
            chunk = int.from_bytes(header.tsi.to_bytes(4, "big"), "little")  # the packet id, little-endian
            assert frame[SwitchMLData].values == expected[chunk * 64 : (chunk + 1) * 64].tolist()
            assert frame[SwitchMLExponents].e0 == 0 and header.pool_slot() == chunk % 64
    assert requests == summary["switch_packets"]
    assert replies == summary["switch"]["datagrams_sent"]


@pytest.mark.network
def test_cli_json_output(capsys):
    assert run.main(["--workers", "2", "--elements", "1000", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["correct"] is True and summary["workers"] == 2 and summary["elements"] == 1000
    assert {"packets_per_s", "retransmissions", "switch", "error"} <= set(summary)
    assert [worker["worker"] for worker in summary["per_worker"]] == [0, 1]
    for worker in summary["per_worker"]:  # what each worker's socket set aside, and its protocol counters
        assert worker["foreign_datagrams"] == worker["malformed_replies"] == 0
        assert worker["completed"] is True and worker["sent"] >= 16


@pytest.mark.network
def test_hardened_switch_gives_the_exact_sum(capsys):
    assert run.main(["--workers", "3", "--elements", "5000", "--loss", "0.05", "--hardened", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["hardened"] is True and summary["correct"] is True
    assert summary["switch"]["pipeline"]["broadcast"] == -(-5000 // 64)


@pytest.mark.network
def test_cli_human_summary(capsys):
    assert run.main(["--workers", "1", "--elements", "64"]) == 0
    out = capsys.readouterr().out
    assert "verdict: exact" in out and "packets/s" in out


def test_add_emulate_parser_wires_a_subcommand():
    parser = argparse.ArgumentParser(prog="switchsim")
    add_emulate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["emulate", "--workers", "4", "--elements", "10", "--loss", "0.2", "--json",
                              "--pcap", "x.pcap"])
    assert (args.workers, args.elements, args.loss, args.json, args.pcap) == (4, 10, 0.2, True, "x.pcap")
    assert args.handler is run.run_command


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "33"], "must be an integer in 1..32, got 33"),
        (["--loss", "1"], "must be a probability in [0, 1), got 1.0"),
        (["--timeout", "0"], "--timeout: must be a number of seconds in (0, 60], got 0"),
        (["--timeout", "inf"], "--timeout: must be a number of seconds in (0, 60], got inf"),
        (["--timeout", "1e9"], "--timeout: must be a number of seconds in (0, 60], got 1e9"),
        (["--timeout", "nan"], "--timeout: must be a number of seconds in (0, 60], got nan"),
        (["--max-wall", "inf"], "--max-wall: must be a number of seconds in (0, 86400], got inf"),
    ],
)
def test_cli_rejects_bad_arguments(capsys, argv, message):
    """Bad input is refused up front with exit status 2 (a worker given --timeout inf used to crash in numba,
    reported as a run that did not finish)."""
    with pytest.raises(SystemExit) as stop:
        run.main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_emulate_refuses_a_run_that_cannot_fit_in_memory_before_starting(capsys):
    from switchsim.cli import main

    started = time.monotonic()
    assert main(["emulate", "--workers", "32", "--elements", str(1 << 28)]) == 2
    error = capsys.readouterr().err
    assert f"switchsim emulate: needs about {run.peak_bytes(32, 1 << 28) / 2**30:.1f} GiB" in error and "give fewer --elements or --workers" in error
    assert len(error.strip().splitlines()) == 1 and time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0, "elements": 10}, "workers must be an integer in 1..32"),
        ({"workers": 2, "elements": 0}, "elements must be an integer >= 1"),
        ({"workers": 2, "elements": 10, "loss": 1.0}, "loss must be a probability"),
        ({"workers": 2, "elements": 10, "window": 0}, "window must be an integer"),
        ({"workers": 2, "elements": 10, "elements_per_packet": 100}, "elements_per_packet must be one of"),
        ({"workers": 2, "elements": 10, "timeout_s": float("inf")}, r"timeout_s must be a number of seconds in \(0, 60\]"),
        ({"workers": 2, "elements": 10, "max_wall_s": float("nan")}, "max_wall_s must be a number of seconds"),
    ],
)
def test_emulate_validates_before_starting_anything(kwargs, message):
    with pytest.raises(ValueError, match=message):
        emulate(**kwargs)


@pytest.mark.network
def test_a_run_that_cannot_finish_reports_why():
    summary = emulate(2, 64 * 50, loss=0.9, timeout_s=0.5, max_wall_s=2.0)
    assert (summary["completed"], summary["correct"], summary["stopped_by"]) == (False, None, "max_wall")
    assert summary["error"]
    verdict = run.format_summary(summary).splitlines()[-1]
    assert verdict.startswith("  verdict: did not finish (max_wall 2 s wall clock: ") and "WRONG" not in verdict
