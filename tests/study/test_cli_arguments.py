"""``switchsim study`` argument errors: they name the option and the allowed range, quickly, without a traceback."""

import argparse
import threading

import pytest

from switchsim.cli import main
from switchsim.study.cli import _comma_list


def _parse_in_thread(parse, text):
    outcome = {}

    def run():
        try:
            parse(text)
        except argparse.ArgumentTypeError as error:
            outcome["error"] = str(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=5)
    return thread.is_alive(), outcome


def test_a_bad_seed_is_rejected_at_once_with_the_option_and_range():
    still_running, outcome = _parse_in_thread(_comma_list(int, range(0, 2**31), "--seeds"), "-1")
    assert not still_running  # min()/max() over range(2**31) used to take minutes
    assert outcome["error"] == "--seeds: [-1] not allowed; choose from 0..2147483647"


@pytest.mark.parametrize("command", ["training", "compare"])
def test_cli_rejects_a_negative_seed_without_a_traceback(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["study", command, "--seeds", "-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds: [-1] not allowed; choose from 0..2147483647" in err and "Traceback" not in err
