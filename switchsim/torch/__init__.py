"""switchsim for PyTorch: a DDP communication hook that sums gradients as a SwitchML switch does.

Three lines in an existing DDP script (docs/pytorch.md)::

    import switchsim.torch
    model = DistributedDataParallel(model)
    state = switchsim.torch.register(model, method="intsgd-random", bits=8)

`register` installs `hook.switch_hook` with a `hook.HookState` on the model
(``register_comm_hook``). The gradient of every DDP bucket is compressed by one
of the project's compressors (`workers.quantizers.compressors`) and travels on
the collective that compressor needs: an integer sum (the job's process group
as int32, the emulator's UDP switch, or bmv2), an all-gather, or PowerSGD's two
all-reduces. ``trace=PATH`` records a trace of the job (`trace`) that the
simulator replays (`switchsim.sim.trace_replay`).

The hook needs torch (the ``switchsim[torch]`` extra); the rest of switchsim
does not. The names below are imported on first use, so ``switchsim train
--help`` works without torch.
"""

__all__ = ["AGGREGATIONS", "METHODS", "ExactnessError", "HookState", "register"]


def __getattr__(name: str):
    """``switchsim.torch.register`` and friends, imported from `switchsim.torch.hook` on first use."""
    if name in __all__:
        from switchsim.torch import hook

        return getattr(hook, name)
    raise AttributeError(f"module 'switchsim.torch' has no attribute {name!r}")
