"""The Tofino program through p4c's front end with the open TNA headers (p4lang/p4c's Tofino backend).

`p4c-bm2-ss` parses and type-checks p4/tofino/switchml.p4 against the TNA architecture headers
(``p4include/tofino`` beside the toolchain's ``bin/``): parsing, types, extern signatures such as
``Register``/``RegisterAction``, const-entry tables. The bmv2 backend then stops with exactly one
expected error, because the main package is TNA's ``Switch``, not ``V1Switch``. This is not a Tofino
compile: stage, PHV and register-ALU allocation are not checked. A deliberately broken copy (a
``RegisterAction`` whose stored type is not its register's) must fail, so the check can fail.

Skipped with the reason when p4c-bm2-ss is not on PATH or has no TNA headers beside it (CI puts
../shared/p4-toolchain/bin on PATH).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from switchsim.resources import p4_dir

#: The one error the bmv2 backend gives a TNA program the front end accepted (p4c's wording, two spaces).
EXPECTED_BACKEND_ERROR = "main package  match the expected model"


@pytest.fixture(scope="module")
def front_end() -> tuple[str, Path]:
    """``(p4c-bm2-ss, its TNA include folder)``, or a skip saying what is missing."""
    compiler = shutil.which("p4c-bm2-ss")
    if compiler is None:
        pytest.skip("p4c-bm2-ss not on PATH (CI puts ../shared/p4-toolchain/bin there; docs/bmv2.md)")
    include = Path(compiler).resolve().parent.parent / "p4include" / "tofino"
    if not (include / "tna.p4").is_file():
        pytest.skip(f"no TNA headers at {include} (p4c's open Tofino backend: backends/tofino/bf-p4c/p4include)")
    return compiler, include


def front_end_errors(compiler: str, include: Path, program: Path, output: Path) -> tuple[list[str], bool]:
    """``(error lines but the expected backend one, whether the expected backend error was reached)`` of p4c's
    front end on a TNA ``program``."""
    ran = subprocess.run([compiler, "-D__TARGET_TOFINO__=1", "-I", str(include), "-o", str(output), program.name],
                         cwd=program.parent, capture_output=True, text=True, timeout=300, check=False)
    lines = (ran.stdout + ran.stderr).splitlines()
    reached = ran.returncode != 0 and any(EXPECTED_BACKEND_ERROR in line for line in lines)
    return [line for line in lines if "error" in line.lower() and EXPECTED_BACKEND_ERROR not in line], reached


def test_the_tofino_program_passes_the_front_end(front_end, tmp_path):
    compiler, include = front_end
    errors, reached = front_end_errors(compiler, include, p4_dir() / "tofino" / "switchml.p4", tmp_path / "tna.json")
    assert errors == [] and reached, errors


def test_a_wrong_register_action_type_fails_the_front_end(front_end, tmp_path):
    compiler, include = front_end
    copy = tmp_path / "p4"
    shutil.copytree(p4_dir(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    checker = copy / "tofino" / "bitmap_checker.p4"
    right = "RegisterAction<bitmap_pair_t, bit<32>, worker_bitmap_t>(bitmap) update_set0"
    text = checker.read_text()
    assert right in text
    line = text[: text.index(right)].count("\n") + 1  # the line p4c names
    checker.write_text(text.replace(right, "RegisterAction<bit<8>, bit<32>, worker_bitmap_t>(bitmap) update_set0"))
    errors, _ = front_end_errors(compiler, include, copy / "tofino" / "switchml.p4", tmp_path / "tna.json")
    assert any(f"bitmap_checker.p4({line})" in error and "type-error" in error for error in errors), errors
