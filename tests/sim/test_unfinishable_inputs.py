"""Inputs that can only produce an unfinished run are rejected at load, naming the field and the range;
the recovery policy and the sweep grid are validated the same way."""

import math

import pytest

from switchsim.config import ScenarioError, load_scenario, scenario_from_dict, with_override


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"link": {"rate_bps": math.inf}}, r"link\.rate_bps = inf .* finite number in \[1000, 1e\+13\] bits/s"),
        ({"link": {"rate_bps": 1.0}}, r"link\.rate_bps = 1\.0 .* \[1000, 1e\+13\]"),
        ({"link": {"delay_s": math.nan}}, r"link\.delay_s = nan .* finite number in \[0, 10\] seconds"),
        ({"link": {"delay_s": 86400.0}}, r"link\.delay_s = 86400\.0"),
        ({"link": {"reorder_delay_s": math.inf}}, r"link\.reorder_delay_s = inf"),
        ({"switch": {"pipeline_latency_s": 5.0}}, r"switch\.pipeline_latency_s = 5\.0 .* \[0, 1\] seconds"),
        ({"switchml": {"timeout_s": math.inf}}, r"switchml\.timeout_s = inf .* \(0, 60\] seconds"),
        ({"host": {"send_overhead_s": 2.0}}, r"host\.send_overhead_s = 2\.0"),
        ({"workload": {"compute_s": math.inf}}, r"workload\.compute_s = inf"),
        ({"baselines": {"retransmit_timeout_s": 0.0}}, r"baselines\.retransmit_timeout_s = 0\.0"),
        ({"max_time_s": 0.0}, r"max_time_s = 0\.0 .* \(0, 1e\+06\] seconds"),
        ({"max_time_s": -1.0}, r"max_time_s = -1\.0"),
        ({"max_time_s": math.inf}, r"max_time_s = inf"),
        ({"max_time_s": True}, r"max_time_s = True"),
        ({"max_time_s": 1.0, "workload": {"compute_s": 0.5, "iterations": 2}},
         r"max_time_s = 1\.0 .* > workload\.compute_s x workload\.iterations = 1 s"),
        ({"switchml": {"recovery": "tcp"}}, r"switchml\.recovery = 'tcp' .* one of \('official', 'reset', 'rto'\)"),
        ({"switchml": {"recovery": "rto", "timeout_s": 1e-4, "rto_min_s": 1e-3}},
         r"switchml\.rto_min_s = 0\.001 .* \(<= switchml\.timeout_s with recovery = 'rto'\)"),
        ({"sweep": {"grid": {"link.loss": []}}}, r"sweep\.grid .* \[one or more values\]"),
        ({"sweep": {"seeds": [1, 1]}}, r"sweep\.seeds = \[1, 1\] .* distinct integers >= 0"),
        ({"sweep": {"param": "link.loss", "values": [0.0], "grid": {"link.loss": [0.1]}}},
         r"sweep\.grid .* each SECTION\.FIELD once"),
        ({"sweep": {"grid": {"switchml.recovery": ["official", "fast"]}}},
         r"\[sweep\] switchml\.recovery = 'fast': switchml\.recovery = 'fast' is out of range"),
        ({"sweep": {"param": "link.loss", "values": [0.0, 2.0]}}, r"\[sweep\] link\.loss = 2\.0"),
    ],
)
def test_unfinishable_or_bad_values_are_rejected_at_load(document, message):
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict(document)


def test_a_sweep_grid_loads_from_toml(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('[sweep]\nparam = "link.loss"\nvalues = [0, 0.01]\nseeds = [3, 4]\n'
                    '[sweep.grid]\n"switchml.recovery" = ["official", "rto"]\n"switchml.window" = [8, 16]\n')
    sweep = load_scenario(path).sweep
    assert sweep.axes == (("link.loss", (0, 0.01)), ("switchml.recovery", ("official", "rto")),
                          ("switchml.window", (8, 16)))
    assert sweep.seeds == (3, 4)


def test_overrides_keep_the_field_types():
    """`sweep --param methods --values ring` once became ('r', 'i', 'n', 'g'); bools and strings are refused
    where numbers belong."""
    base = scenario_from_dict({})
    assert with_override(base, "methods", "ring").methods == ("ring",)
    assert with_override(base, "methods", "switchml+ps").methods == ("switchml", "ps")
    assert with_override(base, "link.loss", 0).link.loss == 0.0
    with pytest.raises(ScenarioError, match=r"methods = \['r', 'x'\]"):
        with_override(base, "methods", "r+x")
    with pytest.raises(ScenarioError, match=r"seed = True has the wrong type: expected int"):
        with_override(base, "seed", True)
    with pytest.raises(ScenarioError, match=r"switchml\.window = 'big' has the wrong type: expected int"):
        with_override(base, "switchml.window", "big")
