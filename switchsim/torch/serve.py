"""``switchsim serve``: the emulator's UDP switch for a job whose workers bind known ports.

A DDP job whose ranks use ``register(..., aggregation="switch", switch_address="HOST:PORT",
switch_options={"worker_port_base": P})`` binds rank r's worker socket to ``P + r``; this command
starts the switch with that registration table (`switchsim.emu.switch_server.SwitchServer`) and
serves until Ctrl-C (SIGINT) or SIGTERM, then prints the switch's counters. No torch needed.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    """The ``switchsim serve`` subcommand's parser."""
    parser = subparsers.add_parser(
        "serve", help="serve the emulator's UDP switch for N workers at known ports (switchsim.torch's 'switch')",
        description="Start the emulator switch (UDP) for one SwitchML job of --workers workers that bind "
                    "--worker-host:--worker-port-base+rank, print its address, serve until Ctrl-C or SIGTERM, "
                    "then print its counters as JSON. Use it with switchsim.torch.register(..., "
                    "aggregation='switch', switch_address='HOST:PORT', "
                    "switch_options={'worker_port_base': BASE}) (docs/pytorch.md).")
    parser.add_argument("--workers", type=int, required=True, help="workers (ranks) of the job, 1..32")
    parser.add_argument("--worker-port-base", type=int, required=True,
                        help="rank r's UDP port is this + r (1..65535)")
    parser.add_argument("--worker-host", default="127.0.0.1", help="the workers' IP address (default 127.0.0.1)")
    parser.add_argument("--host", default="127.0.0.1", help="address the switch binds (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="the switch's UDP port (default: the first free one of SwitchML's range)")
    parser.add_argument("--window", type=int, default=64, help="slots = the workers' window (default 64)")
    parser.set_defaults(handler=run_command)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 when stopped, 2 bad input (ValueError, reported by the command line)."""
    from switchsim.emu.switch_server import ServerConfig, SwitchServer

    if not 1 <= args.workers <= 32:
        raise ValueError(f"--workers must be an integer in 1..32, got {args.workers}")
    if not (1 <= args.worker_port_base and args.worker_port_base + args.workers - 1 <= 0xFFFF):
        raise ValueError(f"--worker-port-base must leave --workers ports in 1..65535, got {args.worker_port_base}")
    config = ServerConfig(workers=tuple((args.worker_host, args.worker_port_base + r) for r in range(args.workers)),
                          host=args.host, port=args.port, slots=args.window)
    server = SwitchServer(config)
    try:
        host, port = server.bind()
    except OSError as error:
        raise ValueError(f"--port: {error}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"switchsim serve: switch at {host}:{port} for {args.workers} workers at {args.worker_host}:"
          f"{args.worker_port_base}..{args.worker_port_base + args.workers - 1}, window {args.window} "
          "(Ctrl-C stops)", flush=True)
    try:
        server.serve(stop)
    except KeyboardInterrupt:
        pass
    finally:
        report = server.report()
        server.close()
    print(json.dumps(report, default=str), flush=True)
    return 0
