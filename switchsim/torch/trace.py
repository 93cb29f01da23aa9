"""Traces of real DDP jobs: per iteration the forward, backward and optimizer times and each bucket's ready time.

`TraceRecorder` is installed by `switchsim.torch.register` with ``trace=PATH``.
It times, on every rank, with ``time.perf_counter``:

* the forward pass: a forward pre-hook and a forward hook on the DDP model;
* the backward pass: from the moment the gradient of the model's output is
  computed (a tensor hook on the output: the backward pass enters the model)
  to the end of the autograd graph's execution (a callback queued on the
  autograd engine, which runs once every gradient is computed and before DDP
  waits for its buckets' communication);
* each bucket: the moment the hook receives it (its gradients are all
  computed), relative to the backward start;
* the optimizer step: ``Optimizer.register_step_pre_hook`` and ``..._post_hook``
  (when ``register`` was given the optimizer).

Rank 0 writes the JSON file (`switchsim.sim.trace_replay` documents and reads
the schema) after every iteration, so an interrupted job keeps its trace.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from switchsim.sim.trace_replay import TRACE_FORMAT, TRACE_VERSION


def _first_tensor(output) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output if output.requires_grad else None
    values = output.values() if isinstance(output, dict) else output if isinstance(output, list | tuple) else ()
    for value in values:
        found = _first_tensor(value)
        if found is not None:
            return found
    return None


class TraceRecorder:
    """Records the iterations of a DDP job (module docstring); writes them to ``path`` (None: keep in memory).

    Args:
        path: the JSON file (rank 0), or None.
        ddp_model: the DDP model (its forward is timed).
        optimizer: the optimizer (its step is timed), or None.
        info: header fields (method, bits, aggregation, world size, model, ...).
    """

    def __init__(self, path: str | None, ddp_model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                 info: dict) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.info = dict(info)
        self.iterations: list[dict] = []
        self._current: dict | None = None
        self._forward_start = 0.0
        self._backward_start: float | None = None
        self._handles = [ddp_model.register_forward_pre_hook(self._before_forward),
                         ddp_model.register_forward_hook(self._after_forward)]
        if optimizer is not None:
            self._handles += [optimizer.register_step_pre_hook(self._before_step),
                              optimizer.register_step_post_hook(self._after_step)]
        self._step_start = 0.0

    # --- hooks ----------------------------------------------------------------------------------
    def _before_forward(self, module, inputs) -> None:
        if self._current is not None:
            self._finish()
        self._forward_start = time.perf_counter()
        self._current = {"iteration": len(self.iterations), "forward_s": None, "backward_s": None,
                         "optimizer_s": None, "buckets": []}
        self._backward_start = None

    def _after_forward(self, module, inputs, output) -> None:
        if self._current is None:
            return
        self._current["forward_s"] = time.perf_counter() - self._forward_start
        tensor = _first_tensor(output)
        if tensor is not None:
            tensor.register_hook(self._backward_started)

    def _backward_started(self, gradient: torch.Tensor) -> None:
        self._backward_start = time.perf_counter()
        torch.autograd.Variable._execution_engine.queue_callback(self._backward_finished)

    def _backward_finished(self) -> None:
        if self._current is not None and self._backward_start is not None:
            self._current["backward_s"] = time.perf_counter() - self._backward_start

    def bucket_ready(self, index: int, elements: int) -> None:
        """Called by the hook when DDP hands it bucket ``index`` of ``elements`` float32 gradients."""
        if self._current is None or self._backward_start is None:
            return
        self._current["buckets"].append({"index": int(index), "elements": int(elements),
                                         "ready_s": time.perf_counter() - self._backward_start})

    def _before_step(self, optimizer, args, kwargs) -> None:
        self._step_start = time.perf_counter()

    def _after_step(self, optimizer, args, kwargs) -> None:
        if self._current is not None:
            self._current["optimizer_s"] = time.perf_counter() - self._step_start
            self._current["step_s"] = time.perf_counter() - self._forward_start
            self._finish()

    # --- output ---------------------------------------------------------------------------------
    def _finish(self) -> None:
        current, self._current = self._current, None
        if current is None or current["backward_s"] is None:
            return
        current.setdefault("step_s", None)
        if current["optimizer_s"] is None:
            current["optimizer_s"] = 0.0
        self.iterations.append(current)
        self.write()

    def document(self) -> dict:
        """The trace as a JSON-ready dict (schema: `switchsim.sim.trace_replay`)."""
        return {"format": TRACE_FORMAT, "version": TRACE_VERSION, **self.info, "iterations": self.iterations}

    def write(self) -> None:
        """Write the trace (rank 0's path; nothing if None)."""
        if self.path is not None:
            temporary = self.path.with_suffix(self.path.suffix + ".tmp")
            temporary.write_text(json.dumps(self.document(), indent=1))
            temporary.replace(self.path)

    def close(self) -> None:
        """Finish the iteration in progress, write, remove the hooks."""
        self._finish()
        self.write()
        for handle in self._handles:
            handle.remove()
        self._handles = []
