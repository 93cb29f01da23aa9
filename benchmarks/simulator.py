"""Benchmark: simulated packet-hops per wall-clock second of the SwitchML simulator.

Runs the SwitchML method of each named scenario (quickstart and paper-10g by
default) once after a warm-up and prints packet-hops, wall seconds and
packet-hops/s side by side. A packet-hop is one packet crossing one link.
``--elements`` caps the tensor size (paper-10g has 26,214,400 elements; the
rate does not depend on it beyond warm-up).

    python benchmarks/simulator.py [--scenarios quickstart,paper-10g] [--elements N]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from switchsim.config import builtin_scenario, load_scenario
from switchsim.sim.run import make_tensors
from switchsim.sim.switchml_method import run_switchml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="quickstart,paper-10g")
    parser.add_argument("--elements", type=int, default=4 * 1024 * 1024, help="cap on elements per worker")
    args = parser.parse_args()
    warm = load_scenario(builtin_scenario("quickstart"))
    warm = replace(warm, workload=replace(warm.workload, elements=64 * 256))
    run_switchml(warm, make_tensors(warm))
    print(f"{'scenario':14} {'workers':>7} {'elements':>11} {'packet-hops':>12} {'wall s':>8} {'hops/s':>10} "
          f"{'sim ATE/s':>10} {'correct':>7}")
    for name in args.scenarios.split(","):
        scenario = load_scenario(builtin_scenario(name))
        elements = min(scenario.workload.elements, args.elements)
        scenario = replace(scenario, workload=replace(scenario.workload, elements=elements))
        result, _ = run_switchml(scenario, make_tensors(scenario))
        print(f"{name:14} {result.workers:7d} {elements:11,d} {result.packet_hops:12,d} {result.wall_time_s:8.2f} "
              f"{result.packet_hops / result.wall_time_s:10,.0f} {result.ate_per_s:10.3e} {result.correct!s:>7}")


if __name__ == "__main__":
    main()
