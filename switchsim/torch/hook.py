"""The DDP communication hook: each bucket's gradient through a compressor and the collective it needs.

`register(ddp_model, method, bits, aggregation, ...)` returns the `HookState`
it installed with ``ddp_model.register_comm_hook``. For every bucket DDP hands
the hook (its flattened local gradient, float32), the hook:

* **switch-summable methods** (``intsgd-random``, ``intsgd-deterministic``,
  ``heuristic``, ``block-exponent``, ``terngrad``, ``int8-ring``): encodes the
  gradient to int32 with the project's numba kernels (CPU tensors are viewed as
  NumPy arrays, no copy), sums the integers over the ranks and decodes the sum
  to the mean gradient. The sum is what a SwitchML switch computes: int32 with
  wrap-around, then reduced to the method's accumulator width (8 bits for
  IntSGD at 8 bits: the switch returns the sum in the wire element). Where the
  sum is taken is the ``aggregation``:

  - ``"process-group"``: an int32 ``all_reduce`` on the job's process group
    (gloo's and NCCL's int32 SUM wrap around, as the switch's registers);
  - ``"switch"``: every rank is a SwitchML worker (`workers.protocol`,
    `workers.client`) sending UDP datagrams to the emulator switch
    (`switchsim.emu.switch_server`), started by rank 0 unless ``switch_address``
    names a running one (`aggregation`);
  - ``"bmv2"``: the same worker protocol as Ethernet frames to the P4 program in
    ``simple_switch`` (root and the P4 toolchain).

  Methods whose scale needs one small extra collective (the heuristic's max,
  TernGrad's per-layer max, SwitchML's per-block exponents) take it as a MAX
  ``all_reduce`` on the process group before encoding.
* **all-gather methods** (``signsgd``, ``natural``, ``qsgd``, ``topk``): every
  rank's message (the compressor's payload, serialised) is all-gathered and
  every rank decodes all of them.
* ``powersgd``: rank-2 PowerSGD with error feedback through its two float32
  all-reduces (P, then Q).
* ``float32``: the plain mean by a float32 ``all_reduce`` (DDP's default).

**IntSGD's alpha** is computed identically on every rank from what every rank
already has, with no extra communication, as the authors do: after every
bucket is decoded, each rank records ``||mean_i||**2`` per parameter tensor i
(the decoded averaged gradient, identical on every rank); at the start of the
next iteration the moving averages ``r_i <- beta r_i + (1 - beta) ||mean_i||**2``
are updated and alpha is ``sqrt(d / (2 n sum_i r_i + eps**2))`` for the whole
model (``alpha_scope="global"``, the authors' distributed code) or
``sqrt(d_i / (2 n r_i + (d_i / d) eps**2))`` per tensor (``"layer"``). The
first iteration uses ``initial_alpha`` (100, the authors' value). State is
keyed by parameter names, not by bucket index, so DDP's rebuilding of the
buckets after the first iteration does not disturb it.

**Exactness** (``check=True``): every bucket's integers are also summed as
int64 on the process group; a sum that differs from the exact one (a wrong sum)
or that leaves the accumulator's range (an overflow) raises `ExactnessError`
naming the bucket, the element and the values. Overflow is always counted per
bucket (`HookState.overflow`), from the int32 sum when the accumulator is
narrower than 32 bits.

**CUDA**: CUDA buckets are encoded with torch operations of the same semantics
for IntSGD (`_encode_torch`); other methods copy to the CPU. That path is not
tested here (no GPU).
"""

from __future__ import annotations

import math
import pickle
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from switchsim.torch.kernels import decode_intsgd
from switchsim.torch.methods import (
    AGGREGATIONS,
    ALPHA_SCOPES,
    BITS_METHODS,
    METHODS,
    SWITCH_METHODS,
)
from workers.quantizers.compressors import COMPRESSORS, Compressor, PowerSGD
from workers.quantizers.intsgd import AlphaState, IntSGD, layer_alphas
from workers.quantizers.rounding import deterministic_round, randomized_round


class ExactnessError(RuntimeError):
    """A bucket's integer sum differs from the exact int64 sum, or overflowed its accumulator (``check=True``)."""


@dataclass
class _Plan:
    """What the hook knows about one bucket, keyed by its parameters' names."""

    index: int
    names: tuple[str, ...]
    bounds: tuple[int, ...]
    shapes: tuple[tuple[int, ...], ...]
    compressor: Compressor | None
    seed: int


@dataclass
class BucketRecord:
    """One bucket of one iteration, as the trace records it (seconds from the backward start)."""

    index: int
    elements: int
    ready_s: float


@dataclass
class HookState:
    """The hook's state: configuration, IntSGD's moving averages, error-feedback memory, overflow counts.

    Save it with the model: ``torch.save({"model": ..., "hook": state.state_dict()}, f)`` and restore
    with `load_state_dict`; a restored job continues with the same alphas and residuals.

    Attributes:
        method, bits, aggregation, alpha_scope, check, seed: as `register`.
        world_size, rank: of the process group.
        iteration: iterations started (the RNG step of randomized rounding).
        overflow: bucket index -> elements whose sum overflowed the accumulator, summed over iterations.
        clipped: bucket index -> elements clipped while encoding, summed over iterations and this rank.
        buckets_seen: bucket index -> elements, from the latest iteration.
    """

    method: str
    bits: int
    aggregation: str
    alpha_scope: str
    check: bool
    seed: int
    world_size: int
    rank: int
    group: Any = None
    beta: float = 0.9
    eps: float = 1e-8
    initial_alpha: float = 100.0
    names: dict[int, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    iteration: int = 0
    mean_sq: dict[str, float] = field(default_factory=dict)
    pending_sq: dict[str, float] = field(default_factory=dict)
    residuals: dict[str, np.ndarray] = field(default_factory=dict)
    powersgd_q: dict[str, np.ndarray] = field(default_factory=dict)
    overflow: dict[int, int] = field(default_factory=dict)
    clipped: dict[int, int] = field(default_factory=dict)
    buckets_seen: dict[int, int] = field(default_factory=dict)
    plans: dict[tuple[str, ...], _Plan] = field(default_factory=dict)
    transport: Any = None
    recorder: Any = None
    #: when a list, every switch-method bucket appends what crossed the wire (tests and inspection):
    #: {"iteration", "index", "names", "bounds", "sent", "sum", "mean", "clipped", "alphas"}
    record: list | None = None
    _new_iteration: bool = True
    _alphas: dict[str, float] = field(default_factory=dict)

    # --- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """What a checkpoint needs to continue identically: plain Python and NumPy values."""
        return {
            "method": self.method, "bits": self.bits, "alpha_scope": self.alpha_scope, "seed": self.seed,
            "world_size": self.world_size, "iteration": self.iteration, "mean_sq": dict(self.mean_sq),
            "pending_sq": dict(self.pending_sq), "new_iteration": self._new_iteration,
            "residuals": {k: v.copy() for k, v in self.residuals.items()},
            "powersgd_q": {k: v.copy() for k, v in self.powersgd_q.items()},
            "overflow": dict(self.overflow), "clipped": dict(self.clipped),
        }

    def load_state_dict(self, saved: dict) -> None:
        """Restore `state_dict`'s values; the method, bits and world size must match."""
        for key in ("method", "bits", "alpha_scope", "world_size"):
            if saved[key] != getattr(self, key):
                raise ValueError(f"checkpoint's hook {key} is {saved[key]!r}, this hook's is {getattr(self, key)!r}")
        self.iteration = int(saved["iteration"])
        self.mean_sq = {k: float(v) for k, v in saved["mean_sq"].items()}
        self.pending_sq = {k: float(v) for k, v in saved["pending_sq"].items()}
        self._new_iteration = bool(saved["new_iteration"])
        self.residuals = {k: np.array(v, np.float32) for k, v in saved["residuals"].items()}
        self.powersgd_q = {k: np.array(v, np.float64) for k, v in saved["powersgd_q"].items()}
        self.overflow = {int(k): int(v) for k, v in saved["overflow"].items()}
        self.clipped = {int(k): int(v) for k, v in saved["clipped"].items()}
        for plan in self.plans.values():  # compressors rebuilt from the restored memory
            self._restore_memory(plan)

    # --- reports --------------------------------------------------------------------------------
    def report(self) -> dict:
        """Totals for the run: iterations, overflowed and clipped elements (per bucket and in all)."""
        return {"iterations": self.iteration, "overflow": sum(self.overflow.values()),
                "overflow_per_bucket": dict(sorted(self.overflow.items())), "clipped": sum(self.clipped.values()),
                "buckets": dict(sorted(self.buckets_seen.items()))}

    def close(self) -> None:
        """Write the trace and stop the switch this rank started (idempotent)."""
        if self.recorder is not None:
            self.recorder.close()
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # --- IntSGD's alpha ----------------------------------------------------------------------------
    def _start_iteration(self) -> None:
        """Fold the last iteration's decoded norms into the moving averages and fix this iteration's alphas."""
        for name, sq in self.pending_sq.items():
            previous = self.mean_sq.get(name)
            self.mean_sq[name] = sq if previous is None else self.beta * previous + (1 - self.beta) * sq
        if self.pending_sq:
            self.iteration += 1
        self.pending_sq = {}
        self._alphas = {}
        if not self.mean_sq:
            return
        names = sorted(self.mean_sq, key=lambda n: self.order[n])
        sizes = np.array([self.sizes[n] for n in names], np.float64)
        r = np.array([self.mean_sq[n] for n in names], np.float64)
        if self.alpha_scope == "global":
            alpha = float(layer_alphas(np.array([r.sum()]), 1.0, np.array([sizes.sum()]), self.world_size,
                                       self.eps)[0])
            self._alphas = dict.fromkeys(names, alpha)
        else:
            self._alphas = dict(zip(names, (float(a) for a in layer_alphas(r, 1.0, sizes, self.world_size,
                                                                             self.eps)), strict=True))

    def alpha_state(self, plan: _Plan) -> AlphaState:
        """This iteration's `AlphaState` for a bucket (one alpha per parameter tensor)."""
        alphas = tuple(self._alphas.get(name, self.initial_alpha) for name in plan.names)
        if all(a == alphas[0] for a in alphas):
            return AlphaState((0, plan.bounds[-1]), (alphas[0],))
        return AlphaState(plan.bounds, alphas)

    # --- plans ------------------------------------------------------------------------------------
    def plan(self, bucket: dist.GradBucket) -> _Plan:
        """The bucket's plan (cached by its parameters' names)."""
        names = tuple(self.names[id(p)] for p in bucket.parameters())
        plan = self.plans.get(names)
        if plan is None:
            shapes = tuple(tuple(p.shape) for p in bucket.parameters())
            bounds = tuple(int(b) for b in np.concatenate([[0], np.cumsum([max(1, math.prod(s)) for s in shapes])]))
            seed = zlib.crc32(f"{self.seed}:{names[0]}".encode()) & 0x7FFFFFFF
            plan = _Plan(bucket.index(), names, bounds, shapes, self._compressor(bounds, shapes, seed), seed)
            self._restore_memory(plan)
            self.plans[names] = plan
        plan.index = bucket.index()
        return plan

    def _compressor(self, bounds: tuple[int, ...], shapes: tuple[tuple[int, ...], ...], seed: int) -> Compressor | None:
        if self.method == "float32":
            return None
        cls = COMPRESSORS[self.method]
        options: dict[str, Any] = {}
        if self.method in BITS_METHODS:
            options["wire_bits"] = self.bits
        if self.method == "powersgd":
            options["shapes"] = [tuple(s) for s in shapes]  # PowerSGD reshapes convolutions itself
        return cls(self.world_size, bounds, seed, **options)

    def _restore_memory(self, plan: _Plan) -> None:
        """Put the saved error-feedback memory of this bucket's tensors into its compressor."""
        compressor = plan.compressor
        if compressor is None:
            return
        if hasattr(compressor, "residuals"):
            for i, name in enumerate(plan.names):
                if name in self.residuals:
                    compressor.residuals[self.rank, plan.bounds[i]:plan.bounds[i + 1]] = self.residuals[name]
        if isinstance(compressor, PowerSGD):
            for i in compressor.q:
                if plan.names[i] in self.powersgd_q:
                    compressor.q[i] = self.powersgd_q[plan.names[i]].copy()

    def _save_memory(self, plan: _Plan) -> None:
        compressor = plan.compressor
        if hasattr(compressor, "residuals"):
            for i, name in enumerate(plan.names):
                self.residuals[name] = compressor.residuals[self.rank, plan.bounds[i]:plan.bounds[i + 1]].copy()
        if isinstance(compressor, PowerSGD):
            for i, q in compressor.q.items():
                self.powersgd_q[plan.names[i]] = q.copy()

    def _record_norms(self, plan: _Plan, mean: np.ndarray) -> None:
        if not self.method.startswith("intsgd") and self.method != "int8-ring":
            return
        sq = np.add.reduceat(mean.astype(np.float64) ** 2, np.asarray(plan.bounds[:-1]))
        for name, value in zip(plan.names, sq, strict=True):
            self.pending_sq[name] = float(value)


# --- the hook ------------------------------------------------------------------------------------------
def switch_hook(state: HookState, bucket: dist.GradBucket) -> torch.futures.Future:
    """DDP communication hook: the bucket's mean gradient through ``state.method`` (see the module docstring)."""
    if state._new_iteration:
        state._start_iteration()
        state._new_iteration = False
    if bucket.is_last():
        state._new_iteration = True
    buffer = bucket.buffer()
    if state.recorder is not None:
        state.recorder.bucket_ready(bucket.index(), buffer.numel())
    state.buckets_seen[bucket.index()] = buffer.numel()
    if state.method == "float32":
        return _float_mean(state, buffer)
    plan = state.plan(bucket)
    if plan.bounds[-1] != buffer.numel():
        raise RuntimeError(f"bucket {bucket.index()}: its parameters hold {plan.bounds[-1]} elements, "
                           f"its buffer {buffer.numel()}")
    device = buffer.device
    gradient = buffer.detach()
    if state.method in SWITCH_METHODS:
        return _switch_sum(state, plan, gradient)
    local = gradient.cpu().numpy() if device.type != "cpu" else gradient.numpy()
    if state.method == "powersgd":
        mean = _powersgd(state, plan, np.ascontiguousarray(local, np.float32))
    else:
        mean = _allgather(state, plan, np.ascontiguousarray(local, np.float32))
    state._save_memory(plan)
    return _done(torch.from_numpy(mean).to(device))


# DDP checks the hook's annotations as objects (this module's are strings: ``from __future__ import annotations``).
switch_hook.__annotations__.update(state=object, bucket=dist.GradBucket, return_=None)
switch_hook.__annotations__.pop("return_")
switch_hook.__annotations__["return"] = torch.futures.Future[torch.Tensor]


def _done(value: torch.Tensor) -> torch.futures.Future:
    future: torch.futures.Future = torch.futures.Future()
    future.set_result(value)
    return future


def _float_mean(state: HookState, buffer: torch.Tensor) -> torch.futures.Future:
    tensor = buffer.div_(state.world_size)
    work = dist.all_reduce(tensor, group=state.group, async_op=True)
    return work.get_future().then(lambda f: f.value()[0])


def _shared(state: HookState, plan: _Plan, gradient: np.ndarray) -> object:
    """What every rank needs before encoding: IntSGD's alpha (no communication) or a small MAX all-reduce."""
    compressor = plan.compressor
    if state.method in ("intsgd-random", "intsgd-deterministic", "int8-ring"):
        return state.alpha_state(plan)
    if state.method == "block-exponent":
        local = compressor.quantizer.local_exponents(gradient).astype(np.int32)
        reduced = torch.from_numpy(local)
        dist.all_reduce(reduced, op=dist.ReduceOp.MAX, group=state.group)
        return reduced.numpy().astype(np.int8)
    if state.method in ("heuristic", "heuristic-sum-in-wire"):
        largest = torch.tensor([float(np.abs(gradient).max()) if gradient.size else 0.0], dtype=torch.float64)
        dist.all_reduce(largest, op=dist.ReduceOp.MAX, group=state.group)
        return compressor.prepare(np.array([[largest.item()]], np.float32))
    if state.method == "terngrad":
        local = torch.from_numpy(compressor.prepare(gradient[None, :]).astype(np.float64))
        dist.all_reduce(local, op=dist.ReduceOp.MAX, group=state.group)
        return local.numpy()
    raise AssertionError(state.method)


def _accumulator_bits(compressor: Compressor) -> int:
    return int(getattr(compressor, "accumulator_bits", 32))


def _wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """int32 values reduced to a ``bits``-bit two's-complement register, as int32 (the switch's wrap-around)."""
    if bits >= 32:
        return values
    shift = 32 - bits
    return ((values.astype(np.int32) << shift) >> shift).astype(np.int32)


def _switch_sum(state: HookState, plan: _Plan, gradient: torch.Tensor) -> torch.futures.Future:
    """Encode, sum as the switch does (on the chosen aggregation), decode; optionally check exactly."""
    compressor = plan.compressor
    device = gradient.device
    local = gradient.numpy() if device.type == "cpu" else gradient.cpu().numpy()  # CPU: a view, no copy
    shared = _shared(state, plan, local)
    if device.type != "cpu" and state.method.startswith("intsgd"):
        integers = _encode_torch(state, plan, gradient, shared)
        clipped = 0
        integer_tensor = integers.cpu()
    elif state.method in ("intsgd-random", "intsgd-deterministic", "int8-ring"):
        integers, clipped = _encode_intsgd(state, plan, local, shared)
        integer_tensor = torch.from_numpy(integers)
    else:
        message = compressor.encode(local, state.rank, state.iteration, shared)
        integer_tensor = torch.from_numpy(message.payload[0])
        clipped = message.clipped
    index = plan.index
    state.clipped[index] = state.clipped.get(index, 0) + clipped
    exact_future = None
    if state.check:
        exact = integer_tensor.to(torch.int64)
        exact_future = dist.all_reduce(exact, group=state.group, async_op=True).get_future()
    bits = _accumulator_bits(compressor)
    keep = exact_future is not None or state.record is not None
    sent = integer_tensor.numpy().copy() if keep else integer_tensor.numpy()
    iteration = state.iteration
    fused = state.method in ("intsgd-random", "intsgd-deterministic", "int8-ring")
    if fused:
        alphas = np.asarray([shared.alphas[i] if len(shared.alphas) > 1 else shared.alphas[0]
                             for i in range(len(plan.names))], np.float64)
        bounds = np.asarray(plan.bounds, np.int64)

    def finish(summed: torch.Tensor) -> torch.Tensor:
        total32 = summed.numpy()
        if exact_future is not None:
            exact_future.wait()
            _check_exact(state, plan, sent, total32, exact_future.value()[0].numpy(), bits)
        if fused:  # IntSGD: wrap, overflow count, decode and norms in one numba pass, into the bucket's buffer
            out = local if device.type == "cpu" else np.empty(local.size, np.float32)
            squares = np.empty(len(plan.names))
            overflowed = decode_intsgd(total32, bits, alphas, bounds, state.world_size, out, squares)
            if exact_future is None:
                state.overflow[index] = state.overflow.get(index, 0) + int(overflowed)
            for name, square in zip(plan.names, squares, strict=True):
                state.pending_sq[name] = float(square)
            mean = out
        else:
            if exact_future is None and bits < 32:
                limit = 1 << (bits - 1)
                overflowed = int(np.count_nonzero((total32 < -limit) | (total32 >= limit)))
                state.overflow[index] = state.overflow.get(index, 0) + overflowed
            mean = compressor.finish(_wrap(total32, bits), shared)
            state._record_norms(plan, mean)
        if state.record is not None:
            state.record.append({"iteration": iteration, "index": index, "names": plan.names, "bounds": plan.bounds,
                                 "sent": sent, "sum": _wrap(total32, bits).copy(), "mean": np.array(mean, copy=True),
                                 "clipped": clipped,
                                 "alphas": getattr(shared, "alphas", None)})
        if fused and device.type == "cpu":
            return gradient  # decoded in place: the bucket's own buffer
        return torch.from_numpy(np.ascontiguousarray(mean, np.float32)).to(device)

    if state.transport is not None:
        return state.transport.sum(integer_tensor, finish)
    work = dist.all_reduce(integer_tensor, group=state.group, async_op=True)
    return work.get_future().then(lambda f: finish(f.value()[0]))


def _check_exact(state: HookState, plan: _Plan, sent: np.ndarray, total32: np.ndarray, exact: np.ndarray,
                 bits: int) -> None:
    """Raise `ExactnessError` on a wrong or overflowed sum; count overflow."""
    limit = 1 << (bits - 1)
    overflowed = (exact < -limit) | (exact >= limit)
    count = int(np.count_nonzero(overflowed))
    state.overflow[plan.index] = state.overflow.get(plan.index, 0) + count
    wrong = np.flatnonzero(total32.astype(np.int64) != ((exact + (1 << 31)) % (1 << 32) - (1 << 31)))
    if wrong.size:
        i = int(wrong[0])
        raise ExactnessError(f"bucket {plan.index}: wrong integer sum at element {i} of {len(exact)} "
                             f"({wrong.size} elements wrong): got {int(total32[i])}, exact {int(exact[i])} "
                             f"(this rank sent {int(sent[i])})")
    if count:
        i = int(np.flatnonzero(overflowed)[0])
        raise ExactnessError(f"bucket {plan.index}: integer sum overflowed the {bits}-bit accumulator at element "
                             f"{i} of {len(exact)} ({count} elements): exact sum {int(exact[i])}, allowed "
                             f"{-limit}..{limit - 1} (this rank sent {int(sent[i])})")


def _encode_intsgd(state: HookState, plan: _Plan, gradient: np.ndarray, shared: AlphaState) -> tuple[np.ndarray, int]:
    """IntSGD's integers with the project's numba kernels, one parameter tensor at a time.

    One thread (the serial kernels): the hook runs inside the backward pass, whose own threads use the
    cores; numba's parallel kernels there made steps several times slower on this 2-vCPU machine.
    Randomized rounding draws element j of parameter p from the stream (seed, rank, iteration) at p's offset
    in the whole model plus j, so the integers do not depend on how DDP grouped the parameters into buckets
    (they change after the first iteration, and after a restart from a checkpoint).
    """
    quantizer: IntSGD = plan.compressor.quantizer
    low, high = quantizer.clip_range(state.world_size)
    out = np.empty(gradient.size, np.int32)
    clipped = 0
    for i, name in enumerate(plan.names):
        lo, hi = plan.bounds[i], plan.bounds[i + 1]
        alpha = shared.alphas[i] if len(shared.alphas) > 1 else shared.alphas[0]  # per layer: bounds are plan's
        if quantizer.rounding == "randomized":
            clipped += randomized_round(gradient[lo:hi], alpha, state.seed, state.rank, state.iteration, high,
                                        out[lo:hi], offset=state.offsets[name], low=low, parallel=False)
        else:
            clipped += deterministic_round(gradient[lo:hi], alpha, high, out[lo:hi], low=low, parallel=False)
    return out, clipped


def _encode_torch(state: HookState, plan: _Plan, gradient: torch.Tensor, shared: AlphaState) -> torch.Tensor:
    """IntSGD's encoding with torch operations (CUDA path; same semantics, a different random stream)."""
    quantizer: IntSGD = plan.compressor.quantizer
    low, high = quantizer.clip_range(state.world_size)
    scale = torch.repeat_interleave(torch.tensor(shared.alphas, dtype=torch.float64, device=gradient.device),
                                    torch.tensor(np.diff(shared.bounds), device=gradient.device))
    scaled = gradient.to(torch.float64) * scale
    if quantizer.rounding == "randomized":
        generator = torch.Generator(device=gradient.device)
        generator.manual_seed(plan.seed * 1_000_003 + state.iteration * 257 + state.rank)
        rounded = torch.floor(scaled + torch.rand(scaled.shape, generator=generator, device=gradient.device,
                                                  dtype=torch.float64))
    else:
        rounded = torch.round(scaled)  # half to even, as the CPU kernel (`deterministic_round`)
    return rounded.clamp_(low, high).to(torch.int32)


def _allgather(state: HookState, plan: _Plan, gradient: np.ndarray) -> np.ndarray:
    """Every rank's message (pickled payload) all-gathered; every rank decodes all of them."""
    from workers.quantizers.compressors.base import Message

    compressor = plan.compressor
    message = compressor.encode(gradient, state.rank, state.iteration, None)
    blob = np.frombuffer(pickle.dumps((message.payload, message.bits, message.clipped)), np.uint8)
    length = torch.tensor([blob.size], dtype=torch.int64)
    lengths = [torch.zeros(1, dtype=torch.int64) for _ in range(state.world_size)]
    dist.all_gather(lengths, length, group=state.group)
    longest = int(max(v.item() for v in lengths))
    padded = torch.zeros(longest, dtype=torch.uint8)
    padded[:blob.size] = torch.from_numpy(blob.copy())
    gathered = [torch.zeros(longest, dtype=torch.uint8) for _ in range(state.world_size)]
    dist.all_gather(gathered, padded, group=state.group)
    messages = []
    for rank, (tensor, size) in enumerate(zip(gathered, lengths, strict=True)):
        payload, bits, clipped = pickle.loads(tensor.numpy()[: int(size.item())].tobytes())
        messages.append(Message(payload, bits, clipped) if rank != state.rank else message)
    return np.asarray(compressor.decode(messages, state.iteration, None), np.float32)


def _powersgd(state: HookState, plan: _Plan, gradient: np.ndarray) -> np.ndarray:
    """PowerSGD (rank r, error feedback) through its two float32 all-reduces: P (with the plain tensors), Q."""
    compressor: PowerSGD = plan.compressor
    bounds = compressor.layer_bounds
    matrix = gradient + compressor.residuals[state.rank]
    n = state.world_size
    compressed = sorted(compressor.q)
    p_parts = [matrix[bounds[i]:bounds[i + 1]].reshape(compressor.shapes[i]).astype(np.float64) @ compressor.q[i]
               for i in compressed]
    plain = np.ones(compressor.dim, bool)
    for i in compressed:
        plain[bounds[i]:bounds[i + 1]] = False
    first = torch.from_numpy(np.concatenate([*(p.ravel() for p in p_parts), matrix[plain].astype(np.float64)]))
    dist.all_reduce(first, group=state.group)
    first_values = first.numpy() / n
    out = np.empty(compressor.dim, np.float64)
    out[plain] = first_values[first_values.size - int(plain.sum()):]
    p_hats, offset = [], 0
    for _compressed, p in zip(compressed, p_parts, strict=True):
        p_hats.append(np.linalg.qr(first_values[offset:offset + p.size].reshape(p.shape))[0])
        offset += p.size
    if compressed:
        q_parts = [matrix[bounds[i]:bounds[i + 1]].reshape(compressor.shapes[i]).T.astype(np.float64) @ p_hat
                   for i, p_hat in zip(compressed, p_hats, strict=True)]
        second = torch.from_numpy(np.concatenate([q.ravel() for q in q_parts]))
        dist.all_reduce(second, group=state.group)
        second_values, offset = second.numpy() / n, 0
        for i, p_hat, q in zip(compressed, p_hats, q_parts, strict=True):
            q_mean = second_values[offset:offset + q.size].reshape(q.shape)
            offset += q.size
            out[bounds[i]:bounds[i + 1]] = (p_hat @ q_mean.T).ravel()
            compressor.q[i] = q_mean
    approximation = out.astype(np.float32)
    residual = np.where(plain, 0.0, matrix - approximation).astype(np.float32)
    compressor.residuals[state.rank] = residual
    return approximation


# --- registration -------------------------------------------------------------------------------------
def _need(name: str, ok: bool, allowed: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def register(
    ddp_model: torch.nn.parallel.DistributedDataParallel,
    method: str = "intsgd-random",
    bits: int = 8,
    aggregation: str = "process-group",
    trace: str | None = None,
    check: bool = False,
    *,
    alpha_scope: str = "global",
    seed: int = 0,
    switch_address: tuple[str, int] | str | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    trace_info: dict | None = None,
    process_group: Any = None,
    switch_options: dict | None = None,
) -> HookState:
    """Install switchsim's communication hook on a DDP model; return its `HookState`.

    Call it once, before the first backward pass, on every rank.

    Args:
        ddp_model: a ``DistributedDataParallel`` model (its process group initialised).
        method: one of `METHODS` (``"float32"``: DDP's plain mean, the baseline).
        bits: wire bits of the integers for ``intsgd-*``, ``heuristic`` and ``int8-ring``, 2..32.
        aggregation: where switch methods' integers are summed, one of `AGGREGATIONS`.
        trace: write a trace of the job (`switchsim.torch.trace`, JSON) to this path (rank 0 writes it).
        check: check every bucket's integer sum against an exact int64 all-reduce (raises `ExactnessError`).
        alpha_scope: IntSGD's alpha for the whole model (``"global"``) or per parameter tensor (``"layer"``).
        seed: seeds randomized rounding (and the compressors' random choices).
        switch_address: ``(host, port)`` or ``"host:port"`` of a running ``switchsim serve`` switch
            (``aggregation="switch"``); None: rank 0 starts one.
        optimizer: the training's optimizer, so the trace records the optimizer step's time.
        trace_info: extra fields for the trace's header (e.g. ``{"model": "resnet50"}``).
        process_group: the process group (default: the world).
        switch_options: for ``"switch"``/``"bmv2"``: ``window``, ``timeout_s``, ``max_wall_s``, ``job_number``,
            ``host`` and ``worker_port_base`` (`switchsim.torch.aggregation.connect`).

    Returns:
        The `HookState` (checkpoint it with ``state_dict``; `HookState.report` gives overflow counts).
    """
    _need("method", method in METHODS, f"one of {METHODS}", method)
    _need("aggregation", aggregation in AGGREGATIONS, f"one of {AGGREGATIONS}", aggregation)
    _need("bits", isinstance(bits, int) and 2 <= bits <= 32, "an integer in 2..32", bits)
    _need("alpha_scope", alpha_scope in ALPHA_SCOPES, f"one of {ALPHA_SCOPES}", alpha_scope)
    _need("seed", isinstance(seed, int) and 0 <= seed < 2**31, "an integer in 0..2**31-1", seed)
    _need("ddp_model", isinstance(ddp_model, torch.nn.parallel.DistributedDataParallel),
          "a torch.nn.parallel.DistributedDataParallel", type(ddp_model).__name__)
    if aggregation != "process-group" and method not in SWITCH_METHODS:
        raise ValueError(f"aggregation must be 'process-group' for method {method!r} (a switch sums only "
                         f"the integer methods {SWITCH_METHODS}), got {aggregation!r}")
    group = process_group
    state = HookState(method=method, bits=bits, aggregation=aggregation, alpha_scope=alpha_scope, check=check,
                      seed=seed, world_size=dist.get_world_size(group), rank=dist.get_rank(group), group=group)
    offset = 0
    for position, (name, parameter) in enumerate(ddp_model.module.named_parameters()):
        state.names[id(parameter)] = name
        state.sizes[name] = parameter.numel()
        state.order[name] = position
        state.offsets[name] = offset
        offset += parameter.numel()
    if aggregation != "process-group" and method in SWITCH_METHODS:
        from switchsim.torch.aggregation import connect

        state.transport = connect(aggregation, state.rank, state.world_size, group, switch_address,
                                  **(switch_options or {}))
    if trace is not None:
        from switchsim.torch.trace import TraceRecorder

        info = {"method": method, "bits": bits if method in BITS_METHODS else None, "aggregation": aggregation,
                "world_size": state.world_size, "parameters": sum(state.sizes.values()), **(trace_info or {})}
        state.recorder = TraceRecorder(trace if state.rank == 0 else None, ddp_model, optimizer, info)
    ddp_model.register_comm_hook(state, switch_hook)
    return state

