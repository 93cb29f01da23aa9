"""Benchmark: the two engines side by side for every method, peak memory, and the scale scenarios' wall time.

Prints, for each scenario and each registered method (SwitchML and every host
collective, all at packet level), the packet-hops per wall-clock second of the fast
engine and the SimPy engine on the same scenario at the same size (capped by
``--elements``), their ratio, and each run's peak memory; then the peak
memory of paper-10g at full size on the synthetic workload; then (with
``--scale``) the wall time and peak memory of ``switchsim run`` on
scenarios/scale-256.toml and scale-1024.toml. A packet-hop is one packet
crossing one link. Every measurement runs in its own process (peak memory is
that process's maximum resident set); the fast engine runs on one core.
Nothing here is asserted: it prints figures.

    python benchmarks/simulator.py [--scenarios quickstart,paper-10g,two-rack,rack-32] [--methods switchml,ring]
        [--elements N] [--scale]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _scenario(name: str, elements: int, source: str, method: str = "switchml"):
    from switchsim.config import builtin_scenario, load_scenario, scenario_from_dict

    if name == "rack-32":  # one rack of 32 workers at 100 Gb/s
        scenario = scenario_from_dict({"name": "rack-32", "seed": 1, "topology": {"workers": 32},
                                       "link": {"rate_bps": 100e9}, "switch": {"slots": 512},
                                       "switchml": {"window": 512}})
    else:
        scenario = load_scenario(builtin_scenario(name))
    workload = replace(scenario.workload, elements=min(scenario.workload.elements, elements), source=source)
    return replace(scenario, methods=(method,), workload=workload)


def _measure(name: str, elements: int, engine: str, source: str, queue, method: str = "switchml") -> None:
    from switchsim.sim.collective_method import run_method
    from switchsim.sim.run import make_tensors

    warm = _scenario(name, 64, source, method)  # load the compiled code first: the figures are the engine's pace
    run_method(method, warm, None if source == "synthetic" else make_tensors(warm), engine=engine)
    scenario = _scenario(name, elements, source, method)
    tensors = None if source == "synthetic" else make_tensors(scenario)
    result, _ = run_method(method, scenario, tensors, engine=engine)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put((result.packet_hops, result.wall_time_s, result.correct, peak, scenario.topology.total_workers,
               scenario.workload.elements))


def measure(name: str, elements: int, engine: str, source: str = "synthetic", method: str = "switchml"):
    """(packet-hops, wall s, correct, peak bytes, workers, elements) of one run, in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(name, elements, engine, source, queue, method))
    process.start()
    figures = queue.get()
    process.join()
    return figures


def scale(name: str) -> tuple[float, int, str]:
    """Wall seconds, peak bytes and the result table of ``switchsim run scenarios/NAME.toml``."""
    started = time.perf_counter()
    run = subprocess.run(
        ["/usr/bin/time", "-f", "peak_kb=%M", sys.executable, "-m", "switchsim.cli", "run",
         str(ROOT / "scenarios" / f"{name}.toml"), "--out", f"/tmp/switchsim-bench-{name}"],
        capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    peak = int(run.stderr.rsplit("peak_kb=", 1)[1].split()[0]) * 1024 if "peak_kb=" in run.stderr else -1
    from switchsim.sim.collectives import method_names

    table = "\n".join(line for line in run.stdout.splitlines() if line.startswith(("method", *method_names())))
    return wall, peak, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from switchsim.sim.collectives import method_names

    parser.add_argument("--scenarios", default="quickstart,paper-10g,two-rack,rack-32")
    parser.add_argument("--methods", default=",".join(method_names()), help="registered methods to measure")
    parser.add_argument("--elements", type=int, default=1 << 18, help="elements per worker for the side-by-side runs")
    parser.add_argument("--scale", action="store_true", help="also time switchsim run on scale-256 and scale-1024")
    args = parser.parse_args()
    measure("quickstart", 1 << 12, "fast")  # compile the engines (once per installation), outside the figures
    methods = args.methods.split(",")
    width = max(10, *(len(method) for method in methods))  # hierarchical-ring is 17 characters
    print(f"{'scenario':12} {'method':{width}} {'workers':>7} {'elements':>10} {'packet-hops':>12} {'fast hops/s':>12} "
          f"{'simpy hops/s':>12} {'ratio':>6} {'fast peak':>10} {'simpy peak':>10} {'exact':>5}")
    for name in args.scenarios.split(","):
        for method in methods:
            fast = measure(name, args.elements, "fast", method=method)
            simpy = measure(name, args.elements, "simpy", method=method)
            assert fast[0] == simpy[0], "the engines disagree on packet-hops"
            fast_rate, simpy_rate = fast[0] / fast[1], simpy[0] / simpy[1]
            print(f"{name:12} {method:{width}} {fast[4]:7d} {fast[5]:10,d} {fast[0]:12,d} {fast_rate:12,.0f} "
                  f"{simpy_rate:12,.0f} {fast_rate / simpy_rate:6.0f} {fast[3] / 2**20:8.0f} MB "
                  f"{simpy[3] / 2**20:8.0f} MB {fast[2] and simpy[2]!s:>5}", flush=True)
    hops, wall, correct, peak, workers, elements = measure("paper-10g", 1 << 40, "fast")
    print(f"paper-10g at full size ({workers} workers x {elements:,} elements), synthetic workload, fast engine: "
          f"{hops:,} packet-hops in {wall:.1f} s ({hops / wall:,.0f}/s), peak memory {peak / 2**20:.0f} MB, "
          f"exact: {correct}")
    if args.scale:
        for name in ("scale-256", "scale-1024"):
            wall, peak, table = scale(name)
            print(f"switchsim run scenarios/{name}.toml: {wall:.1f} s wall, peak memory {peak / 2**20:.0f} MB")
            print(table)


if __name__ == "__main__":
    main()
