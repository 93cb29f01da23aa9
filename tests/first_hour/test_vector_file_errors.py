"""Issue 20, item 5: a broken vector file is bad input (exit 2, one line naming the file and the scenario),
not a traceback with exit 1 ("a sum was wrong")."""

import json

import pytest

from switchsim.cli import main
from switchsim.conformance import vectors


@pytest.fixture
def stored() -> dict:
    return json.loads(vectors.DEFAULT_PATH.read_text())


def _check(tmp_path, document, capsys) -> tuple[int, list[str]]:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    status = main(["conformance", "check", "--vectors", str(path)])
    return status, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("key", ["workers", "steps", "switch", "name"])
def test_a_missing_scenario_key_is_one_line_exit_2(stored, tmp_path, capsys, key):
    del stored["scenarios"][1][key]
    status, err = _check(tmp_path, stored, capsys)
    assert status == 2
    assert len(err) == 1 and "broken.json" in err[0] and repr(key) in err[0], err


def test_a_missing_step_key_names_the_scenario_and_step(stored, tmp_path, capsys):
    name = stored["scenarios"][2]["name"]
    del stored["scenarios"][2]["steps"][1]["ingress_port"]
    status, err = _check(tmp_path, stored, capsys)
    assert status == 2
    assert len(err) == 1 and name in err[0] and "step 1" in err[0] and "'ingress_port'" in err[0], err


def test_a_bad_hex_frame_names_the_file_and_the_scenario(stored, tmp_path, capsys):
    name = stored["scenarios"][3]["name"]
    stored["scenarios"][3]["steps"][0]["frame"] = "zz" + stored["scenarios"][3]["steps"][0]["frame"][2:]
    status, err = _check(tmp_path, stored, capsys)
    assert status == 2
    assert len(err) == 1 and "broken.json" in err[0] and name in err[0] and "step 0" in err[0], err


def test_the_stored_vectors_pass_the_check():
    vectors.check_document(vectors.load(), vectors.DEFAULT_PATH)
