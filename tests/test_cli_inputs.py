"""Bad inputs end in one line naming the path, option or field and what is allowed: never a traceback or a verdict."""

from __future__ import annotations

import socket

import pytest

from switchsim.cli import main
from switchsim.config import MAX_SEED
from switchsim.paths import PathError, output_dir, output_file, read_text


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


@pytest.mark.parametrize("command", [["run"], ["sweep"], ["conformance", "check", "--vectors"]])
def test_a_folder_given_as_an_input_file_is_named(capsys, tmp_path, command):
    err = _error(capsys, [*command, str(tmp_path)])
    assert f"switchsim: error: {tmp_path}: is a folder, not a " in err


def test_a_scenario_that_is_not_utf8_is_named_with_the_byte(capsys, write_scenario):
    scenario = write_scenario(b'name = "caf\xe9"\n', "latin1.toml")
    err = _error(capsys, ["run", str(scenario)])
    assert f"{scenario}: not UTF-8 text (byte 0xe9 at offset 11); a scenario file must be UTF-8" in err


def test_a_vector_file_that_is_not_json_is_named(capsys, tmp_path):
    vectors = tmp_path / "v.json"
    vectors.write_text("[1,", encoding="utf-8")
    assert f"{vectors}: not JSON: " in _error(capsys, ["conformance", "check", "--vectors", str(vectors)])


@pytest.mark.parametrize(("seed", "shown"), [("true", "True"), ("12345678901234567890", "12345678901234567890"),
                                             ("-1", "-1")])
def test_scenario_seed_must_be_a_signed_64_bit_integer(capsys, write_scenario, seed, shown):
    scenario = write_scenario(f"seed = {seed}\n")
    err = _error(capsys, ["run", str(scenario)])
    assert f"seed = {shown} is out of range: must be an integer in 0..{MAX_SEED} (2**63 - 1)" in err


def test_the_largest_seed_is_accepted():
    from switchsim.config import Scenario

    assert Scenario(seed=MAX_SEED).seed == 2**63 - 1


@pytest.mark.parametrize("command", ["loop", "emulate", "run"])
def test_negative_seed_option_names_the_range(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--seed", "-1"])
    assert exit_info.value.code == 2
    assert f"argument --seed: must be an integer in 0..{MAX_SEED}, got -1" in capsys.readouterr().err


def test_run_out_that_is_a_file_is_refused_before_running(capsys, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x", encoding="utf-8")
    err = _error(capsys, ["run", "--out", str(taken)])
    assert f"--out {taken}: exists and is not a folder" in err
    assert capsys.readouterr().out == ""  # refused before the run began


def test_run_pcap_that_is_a_folder_is_refused(capsys, tmp_path):
    assert f"--pcap {tmp_path}: is a folder; give a file name" in _error(capsys, ["run", "--pcap", str(tmp_path)])


def test_tensors_workload_too_big_for_memory_names_the_way_out(capsys, tmp_path, write_scenario):
    scenario = write_scenario("[workload]\nelements = 2147483648\n")  # 2**31: the largest allowed
    err = _error(capsys, ["run", str(scenario), "--out", str(tmp_path / "out")])
    assert "scenario: needs about 264.0 GiB" in err and 'source = "synthetic"' in err


def test_loop_too_big_for_memory_is_refused_before_allocating(capsys):
    err = _error(capsys, ["loop", "--elements", str(1 << 30)])
    assert "switchsim loop: needs about 136.0 GiB" in err and "give fewer --elements" in err


def test_conformance_has_help_text(capsys):
    with pytest.raises(SystemExit):
        main(["conformance", "--help"])
    out = capsys.readouterr().out
    assert "replays a vector file through the model" in out
    assert "check: replay the vectors through the model" in out


@pytest.mark.network
def test_emulate_pcap_in_a_missing_folder_is_created(capsys, tmp_path):
    pcap = tmp_path / "out" / "swml.pcap"
    assert main(["emulate", "--workers", "2", "--elements", "256", "--pcap", str(pcap)]) == 0
    out = capsys.readouterr().out
    assert "verdict: exact" in out and pcap.stat().st_size > 24
    assert f"pcap: {pcap} (0 frames)" not in out


@pytest.mark.network
def test_emulate_on_a_port_in_use_is_an_error_not_a_verdict(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert main(["emulate", "--workers", "2", "--elements", "64", "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert "verdict" not in captured.out
    assert "the switch did not start: " in captured.err and f"port(s) {port}..{port}" in captured.err
    assert "Address already in use" in captured.err and "--port: give a free port, or omit it" in captured.err


def test_read_text_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none\.toml: no such scenario file"):
        read_text(tmp_path / "none.toml", "scenario")


def test_output_helpers(tmp_path):
    assert output_dir(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(PathError, match=r"--pcap .*file: exists and is not a folder"):
        output_file(blocker / "x.pcap", "--pcap")
    assert output_file(blocker, "--pcap") == blocker  # an existing file is overwritten, as usual


@pytest.mark.parametrize("command", [["emulate", "--pcap"], ["conformance", "generate", "--out"]])
def test_an_output_file_that_is_a_folder_is_refused(capsys, tmp_path, command):
    option = command[-1]
    err = _error(capsys, [*command, str(tmp_path)])
    assert f"switchsim: error: {option} {tmp_path}: is a folder; give a file name" in err
