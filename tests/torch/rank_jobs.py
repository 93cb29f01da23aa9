"""Bodies of the ranks the torch tests start (`switchsim.torch.launch.run_ranks` loads them from this file).

Each returns plain Python / NumPy values to the test.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import switchsim.torch


def _small_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def _batch(rank: int, step: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1000 * step + rank)
    return torch.randn(size, 1, 8, 8, generator=generator), torch.randint(0, 10, (size,), generator=generator)


def sums_job(rank: int, world_size: int, method: str, aggregation: str, steps: int, bits: int = 8,
             alpha_scope: str = "global", switch_address: str | None = None,
             switch_options: dict | None = None) -> dict:
    """Train ``steps`` steps with the hook recording every bucket; gather every rank's integers.

    Returns, for each recorded bucket: every rank's sent integers, the sum received, the decoded mean, the
    parameter gradients after backward for that bucket (concatenated), the plain float mean of the local
    gradients (from an all-reduce of the same local gradients, taken with no_sync), clipped and alphas.
    """
    model = _small_model(0)
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
    state = switchsim.torch.register(ddp, method=method, bits=bits, aggregation=aggregation, check=True,
                                     alpha_scope=alpha_scope, seed=3, switch_address=switch_address,
                                     switch_options=switch_options)
    state.record = []
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05)
    named = dict(model.named_parameters())
    buckets = []
    for step in range(steps):
        x, y = _batch(rank, step)
        # the local gradients, float mean over ranks: the reference the hooked result must be close to
        with ddp.no_sync():
            optimizer.zero_grad()
            nn.functional.cross_entropy(ddp(x), y).backward()
        local = {name: p.grad.detach().clone() for name, p in named.items()}
        for g in local.values():
            dist.all_reduce(g)
            g /= world_size
        optimizer.zero_grad()
        del state.record[:]
        nn.functional.cross_entropy(ddp(x), y).backward()
        for entry in sorted(state.record, key=lambda e: e["index"]):  # callbacks finish in any order
            sent = torch.from_numpy(entry["sent"].astype(np.int64))
            every = [torch.zeros_like(sent) for _ in range(world_size)]
            dist.all_gather(every, sent)
            grads = np.concatenate([named[n].grad.detach().numpy().ravel() for n in entry["names"]])
            floats = np.concatenate([local[n].numpy().ravel() for n in entry["names"]])
            clipped = torch.tensor([entry["clipped"]])
            dist.all_reduce(clipped)
            buckets.append({"step": step, "index": entry["index"], "every": np.stack([e.numpy() for e in every]),
                            "sum": entry["sum"], "mean": entry["mean"], "grad": grads, "float_mean": floats,
                            "clipped": int(clipped.item()), "alphas": entry["alphas"], "bounds": entry["bounds"]})
        optimizer.step()
    report = state.report()
    state.close()
    return {"buckets": buckets, "report": report,
            "weights": np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])}


def train_job(rank: int, world_size: int, method: str, aggregation: str, steps: int, checkpoint_at: int | None,
              path: str | None) -> dict:
    """Train deterministically; optionally checkpoint (model, optimizer, hook) at a step and restore it in a
    fresh model and hook, then continue. Returns the final weights and the hook's state."""
    torch.manual_seed(0)
    model = _small_model(0)
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
    state = switchsim.torch.register(ddp, method=method, aggregation=aggregation, seed=1)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        if checkpoint_at is not None and step == checkpoint_at:
            saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "hook": state.state_dict()}
            if rank == 0:
                torch.save(saved, path)
            dist.barrier()
            state.close()
            model = _small_model(99)  # different weights: everything must come from the checkpoint
            ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
            state = switchsim.torch.register(ddp, method=method, aggregation=aggregation, seed=1)
            optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
            loaded = torch.load(path, weights_only=False)
            model.load_state_dict(loaded["model"])
            optimizer.load_state_dict(loaded["optimizer"])
            state.load_state_dict(loaded["hook"])
        x, y = _batch(rank, step)
        optimizer.zero_grad()
        nn.functional.cross_entropy(ddp(x), y).backward()
        optimizer.step()
    hook = state.state_dict()
    state.close()
    return {"weights": np.concatenate([p.detach().numpy().ravel() for p in model.parameters()]),
            "mean_sq": hook["mean_sq"], "iteration": hook["iteration"]}


def trace_job(rank: int, world_size: int, path: str) -> dict:
    """Three traced iterations of the small model (optimizer timed); rank 0 writes ``path``."""
    model = _small_model(0)
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05)
    state = switchsim.torch.register(ddp, method="float32", trace=path, optimizer=optimizer,
                                     trace_info={"model": "small"})
    for step in range(3):
        x, y = _batch(rank, step)
        optimizer.zero_grad()
        nn.functional.cross_entropy(ddp(x), y).backward()
        optimizer.step()
    state.close()
    return {"parameters": sum(p.numel() for p in model.parameters())}


def methods_job(rank: int, world_size: int, methods: list[str], steps: int) -> dict:
    """Each method for ``steps`` steps on a fresh model (check=True for switch methods); per method the final
    gradients (concatenated), the float mean of the same local gradients, and the hook's report. Also the
    messages of `register`'s argument errors."""
    out = {}
    for label in methods:
        method, _, scope = label.partition("/")  # "intsgd-random/layer": IntSGD with one alpha per tensor
        model = _small_model(0)
        ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
        state = switchsim.torch.register(ddp, method=method, check=True, seed=5, alpha_scope=scope or "global")
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05)
        for step in range(steps):
            x, y = _batch(rank, step)
            with ddp.no_sync():
                optimizer.zero_grad()
                nn.functional.cross_entropy(ddp(x), y).backward()
            local = torch.cat([p.grad.detach().ravel().clone() for p in model.parameters()])
            dist.all_reduce(local)
            optimizer.zero_grad()
            nn.functional.cross_entropy(ddp(x), y).backward()
            optimizer.step()
        grads = torch.cat([p.grad.detach().ravel() for p in model.parameters()]).numpy().copy()
        out[label] = {"grad": grads, "float_mean": (local / world_size).numpy(), "report": state.report(),
                      "state": state.state_dict(), "alphas": dict(state._alphas)}
        state.close()
    errors = []
    ddp = DistributedDataParallel(_small_model(0))
    for options in ({"method": "nope"}, {"bits": 40}, {"aggregation": "switch", "method": "topk"},
                    {"alpha_scope": "model"}):
        try:
            switchsim.torch.register(ddp, **options)
        except ValueError as error:
            errors.append(str(error))
    out["errors"] = errors
    tensor = torch.from_numpy(WRAP_VALUES[rank].copy())  # gloo's int32 SUM, at the edges of the range
    dist.all_reduce(tensor)
    out["int32_sum"] = tensor.numpy().copy()
    return out


#: Rows whose int32 sum wraps around (one row per rank).
WRAP_VALUES = np.array([[2**31 - 1, -(2**31), 5], [2**31 - 1, -(2**31), 5]], np.int32)


__all__ = ["methods_job", "sums_job", "trace_job", "train_job"]

