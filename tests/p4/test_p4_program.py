"""The P4 programs' structure against the model: the decision table row by row, one control per concern, typedefs."""

import re

import pytest

from switchsim.p4gen.render import COMMON, DEFAULT_ROOT, processor_names
from switchsim.pipeline.tables import DECISION_TABLE, Action

TARGETS = ("bmv2", "tofino")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
#: next_step's actions -> the model's actions.
ACTIONS = {"consume": Action.CONSUMED, "broadcast": Action.MULTICAST, "retransmit": Action.UNICAST,
           "drop": Action.DROPPED}


def source(target: str, name: str) -> str:
    return _COMMENTS.sub("", (DEFAULT_ROOT / target / name).read_text(encoding="utf-8"))


def const_entries(text: str, table: str) -> dict[tuple[int, ...], str]:
    """{key tuple: action} of ``table``'s ``const entries``, and its key field names, from P4 source."""
    body = re.search(rf"\btable\s+{table}\s*\{{(.*?)\n    \}}", text, re.S).group(1)
    keys = re.findall(r"([\w.]+)\s*:\s*exact\s*;", re.search(r"key\s*=\s*\{(.*?)\}", body, re.S).group(1))
    entries = re.search(r"const\s+entries\s*=\s*\{(.*?)\}", body, re.S).group(1)
    rows = {}
    for key, action in re.findall(r"\(([^)]*)\)\s*:\s*(\w+)\s*\(\s*\)\s*;", entries):
        values = tuple(int(v) for v in key.split(","))
        assert values not in rows, f"{table}: key {values} listed twice"
        rows[values] = action
    return keys, rows


@pytest.mark.parametrize("target", TARGETS)
def test_next_step_const_entries_are_the_decision_table(target):
    keys, rows = const_entries(source(target, "next_step_selector.p4"), "next_step")
    assert [k.split(".")[-1] for k in keys] == ["duplicate", "complete"]
    assert {(bool(d), bool(c)): ACTIONS[a] for (d, c), a in rows.items()} == DECISION_TABLE
    assert len(rows) == len(DECISION_TABLE)


def test_const_entries_parser_catches_a_wrong_row():
    text = source("bmv2", "next_step_selector.p4").replace("(1, 1) : retransmit();", "(1, 1) : drop();")
    _, rows = const_entries(text, "next_step")
    assert {(bool(d), bool(c)): ACTIONS[a] for (d, c), a in rows.items()} != DECISION_TABLE


CONTROLS = {"bitmap_checker.p4": "BitmapChecker", "workers_counter.p4": "WorkersCounter",
            "processor.p4": "Processor", "exponents.p4": "Exponents", "next_step_selector.p4": "NextStepSelector"}


@pytest.mark.parametrize("target", TARGETS)
def test_one_control_per_concern(target):
    for name, control in CONTROLS.items():
        text = source(target, name)
        assert re.findall(r"\bcontrol\s+(\w+)\s*\(", text) == [control], name
    ingress = source(target, "ingress.p4")
    for control in ("BitmapChecker", "WorkersCounter", "Values", "Exponents", "NextStepSelector"):
        assert re.search(rf"\b{control}\(\)\s+\w+\s*;", ingress), control


@pytest.mark.parametrize("target", TARGETS)
def test_processor_written_once_instantiated_per_pair(target):
    """One Processor control per target; the shared generated Values holds one instance per element pair."""
    assert "RegisterAction" not in source("bmv2", "processor.p4")
    values = _COMMENTS.sub("", (DEFAULT_ROOT / COMMON / "switchml_values.p4").read_text(encoding="utf-8"))
    assert re.findall(r"Processor\(\)\s+(\w+);", values) == processor_names() and len(processor_names()) == 32
    every = "\n".join(source(target, p.name) for p in (DEFAULT_ROOT / target).glob("*.p4"))
    assert len(re.findall(r"\bcontrol\s+Processor\s*\(", every)) == 1
    assert every.count("RegisterAction<") <= 16  # the Tofino program's are written by hand, not per element


def test_typedefs_for_slot_pool_index_and_worker_bitmap():
    constants = (DEFAULT_ROOT / COMMON / "switchml_constants.p4").read_text(encoding="utf-8")
    for typedef in ("typedef bit<16> pool_index_t;", "typedef bit<14> slot_t;", "typedef bit<32> worker_bitmap_t;"):
        assert typedef in constants
    for target in TARGETS:
        headers = source(target, "headers.p4")
        assert re.search(r"\bslot_t\s+slot;", headers) and re.search(r"\bworker_bitmap_t\s+worker_bit;", headers)
        assert re.search(r"\bpool_index_t\s+pool_index\s*=", source(target, "ingress.p4"))


def test_hardened_mode_is_a_compile_time_option_of_the_bmv2_program():
    ingress = source("bmv2", "ingress.p4")
    assert "#ifdef SWITCHML_HARDENED" in ingress and "chunk_checker.apply" in ingress
    checker = source("bmv2", "chunk_checker.p4")
    # the packet id is the little-endian tsi: the big-endian field byte-swapped
    assert "tsi[7:0] ++ tsi[15:8] ++ tsi[23:16] ++ tsi[31:24]" in checker
