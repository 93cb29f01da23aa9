"""Run a function on N gloo ranks on 127.0.0.1: the processes `switchsim train` and the tests start.

`run_ranks(target, world_size, args)` spawns ``world_size`` processes (the
spawn start method), each initialising a gloo process group on 127.0.0.1 with
a free port, calling ``target(rank, world_size, *args)`` and sending back its
result (plain Python or NumPy values: a tensor sent through a queue is shared
by file descriptor and breaks once the child exits). Every wait has a
deadline; ranks still running at the deadline are killed. A rank that dies
from SIGABRT before reporting (gloo start-up, rarely) makes the whole run
retry once on a new port; any other failure raises `RankError` with the
rank's traceback.

``target`` is a picklable function, or ``"path/to/file.py:function"`` (loaded
from that file in every rank: test files are not importable by module name).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import queue
import signal
import socket
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any


class RankError(RuntimeError):
    """A rank failed (its traceback in the message) or did not finish in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _resolve(target: str | Callable) -> Callable:
    if callable(target):
        return target
    path, _, name = target.rpartition(":")
    spec = importlib.util.spec_from_file_location(f"switchsim_rank_target_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _rank_main(target, rank: int, world_size: int, port: int, args: tuple, results, timeout_s: float,
               threads: int) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout_s))
        try:
            value = _resolve(target)(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        results.put((rank, "ok", value))
    except BaseException:
        results.put((rank, "error", traceback.format_exc()))


def run_ranks(target: str | Callable, world_size: int, args: tuple = (), *, timeout_s: float = 120.0,
              retries: int = 1, threads: int = 1) -> list[Any]:
    """``[target(rank, world_size, *args) for every rank]``, each in its own gloo process (module docstring).

    Args:
        target: a picklable function or ``"file.py:function"``.
        world_size: ranks, 1..64.
        args: further arguments (picklable).
        timeout_s: deadline for the whole run (seconds); also the process group's timeout.
        retries: runs again on a new port when a rank dies from SIGABRT before reporting.
        threads: torch threads per rank.

    Raises:
        RankError: a rank raised (its traceback), died, or the deadline passed.
    """
    if not 1 <= world_size <= 64:
        raise ValueError(f"world_size must be in 1..64, got {world_size!r}")
    context = multiprocessing.get_context("spawn")
    for attempt in range(retries + 1):
        results = context.Queue()
        port = free_port()
        processes = [context.Process(target=_rank_main, args=(target, rank, world_size, port, args, results,
                                                                timeout_s, threads), daemon=False)
                     for rank in range(world_size)]
        for process in processes:
            process.start()
        deadline = time.monotonic() + timeout_s
        values: dict[int, Any] = {}
        failure = None
        aborted = False
        try:
            while len(values) < world_size and failure is None:
                try:
                    rank, kind, value = results.get(timeout=0.2)
                except queue.Empty:
                    dead = [(r, p.exitcode) for r, p in enumerate(processes)
                            if p.exitcode is not None and r not in values]
                    if dead:
                        try:  # a result may still be in flight from a rank that just exited
                            rank, kind, value = results.get(timeout=2.0)
                        except queue.Empty:
                            aborted = any(code == -signal.SIGABRT for _, code in dead)
                            failure = f"rank(s) {[r for r, _ in dead]} exited (codes {[c for _, c in dead]})"
                            break
                    elif time.monotonic() > deadline:
                        failure = f"ranks {sorted(set(range(world_size)) - set(values))} did not finish " \
                                  f"within {timeout_s} s"
                        break
                    else:
                        continue
                if kind == "ok":
                    values[rank] = value
                else:
                    failure = f"rank {rank} failed:\n{value}"
        except BaseException:  # Ctrl-C or SIGTERM (or a bug here): no rank's result will be read, stop them now
            for process in processes:
                process.kill()
            raise
        finally:
            for process in processes:
                process.join(timeout=5.0 if failure is None else 0.5)
                if process.is_alive():
                    process.kill()
                    process.join(5.0)
            results.close()
        if failure is None:
            return [values[r] for r in range(world_size)]
        if not (aborted and attempt < retries):
            raise RankError(failure)
    raise AssertionError("unreachable")
