"""Scenario loading and validation: every shipped file loads; bad values name field and range."""

from dataclasses import replace

import pytest

from switchsim.config import (
    SCENARIOS_DIR,
    LinkConfig,
    Scenario,
    ScenarioError,
    builtin_scenario,
    load_scenario,
    scenario_from_dict,
    with_override,
)

SHIPPED = ["quickstart", "paper-10g", "paper-100g", "loss-sweep", "two-rack", "multi-job", "float32"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name):
    scenario = load_scenario(builtin_scenario(name))
    assert scenario.name == name


def test_paper_scenarios_match_the_issue():
    for name, rate, slots in (("paper-10g", 10e9, 128), ("paper-100g", 100e9, 512)):
        s = load_scenario(SCENARIOS_DIR / f"{name}.toml")
        assert (s.link.rate_bps, s.switch.slots, s.topology.workers) == (rate, slots, 8)
        assert (s.workload.elements, s.switchml.elements_per_packet) == (26_214_400, 64)
    sweep = load_scenario(SCENARIOS_DIR / "loss-sweep.toml").sweep
    assert (sweep.param, sweep.values) == ("link.loss", (0.0, 0.0001, 0.001, 0.01))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"link": {"loss": 1.5}}, r"link\.loss = 1\.5 is out of range: must be a probability in \[0, 1\)"),
        ({"topology": {"workers": 40}}, r"topology\.workers = 40 is out of range: must be an integer in 1\.\.32"),
        ({"topology": {"kind": "mesh"}}, r"topology\.kind = 'mesh' .* one of \('one_rack', 'two_level', 'multi_job', 'fat_tree', 'tree'\)"),
        ({"switchml": {"elements_per_packet": 100}}, r"switchml\.elements_per_packet = 100"),
        ({"switch": {"slots": 64}, "switchml": {"window": 128}}, r"switch\.slots = 64 .* >= switchml\.window x jobs"),
        ({"link": {"speed": 1}}, r"\[link\] has unknown keys \['speed'\]"),
        ({"colour": "red"}, r"unknown top-level keys \['colour'\]"),
        ({"link": {"rate_bps": "fast"}}, r"link\.rate_bps = 'fast' has the wrong type: expected float"),
        ({"methods": ["switchml", "butterfly"]}, r"methods = \['switchml', 'butterfly'\] .* drawn from"),
        ({"workload": {"dtype": "float32"}}, r"workload\.quantizer = 'identity'"),
    ],
)
def test_bad_values_name_the_field_and_range(document, message):
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict(document)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[link]\nloss = 2\n")
    with pytest.raises(ScenarioError, match=r"bad\.toml: link\.loss = 2"):
        load_scenario(path)
    path.write_text("[link\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path)


def test_integers_are_accepted_for_floats():
    assert scenario_from_dict({"link": {"rate_bps": 10_000_000_000}}).link.rate_bps == 1e10


def test_with_override_revalidates():
    base = Scenario()
    assert with_override(base, "link.loss", 0.01).link.loss == 0.01
    assert with_override(base, "topology.workers", 4).topology.workers == 4
    assert with_override(base, "seed", 3).seed == 3
    with pytest.raises(ScenarioError, match="link.loss"):
        with_override(base, "link.loss", 3.0)
    with pytest.raises(ScenarioError, match="has no field 'nope'"):
        with_override(base, "link.nope", 1)
    with pytest.raises(ScenarioError, match="SECTION.FIELD"):
        with_override(base, "a.b.c", 1)


def test_unknown_builtin_scenario_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="quickstart"):
        builtin_scenario("nope")


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        LinkConfig().loss = 0.5  # type: ignore[misc]
    assert replace(Scenario(), name="x").name == "x"
