"""Issue 20, item 1: the first things a user types: --help, a bare command, --version."""

import subprocess
import sys

import pytest

import switchsim
from switchsim.cli import build_parser, main

COMMANDS = ("loop", "run", "sweep", "study", "emulate", "wireshark", "conformance")


def test_help_exits_0_and_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"\n    {command}" in out, command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_renders(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: switchsim {command}")


def test_bare_command_lists_the_commands_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    for command in COMMANDS:
        assert command in err, command


def test_version_flag_and_attribute(capsys):
    assert isinstance(switchsim.__version__, str) and switchsim.__version__[0].isdigit()
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"switchsim {switchsim.__version__}"


def test_help_through_the_console_script():
    ran = subprocess.run([sys.executable, "-m", "switchsim.cli", "--help"], capture_output=True, text=True,
                         check=False, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "Traceback" not in ran.stderr
    assert build_parser().prog == "switchsim"


def test_sweep_help_shows_percent_signs_once(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    assert "95%" in out and "%%" not in out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "95% intervals" in out and "%%" not in out
