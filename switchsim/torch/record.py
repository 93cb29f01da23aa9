"""Record the traces shipped with switchsim: ResNet-50 and a BERT-base-sized transformer on CPU, random weights.

    python -m switchsim.torch.record resnet50 scenarios/traces/resnet50.json
    python -m switchsim.torch.record bert-base scenarios/traces/bert-base.json

Two gloo ranks on 127.0.0.1 train ``--iterations`` steps (SGD, lr 0.01) of
the model on random inputs (ResNet-50: ``--batch`` 224x224 RGB images and
1,000 classes; BERT: ``--batch`` sequences of ``--sequence`` random tokens,
masked-LM loss on every position) with DDP's default buckets (25 MB) and
switchsim's hook in ``float32`` mode, which reduces as DDP's default hook and
records the trace (`switchsim.torch.trace`). Nothing is downloaded. The bucket
layout does not depend on the number of ranks or the batch; the times are this
machine's CPU.
"""

from __future__ import annotations

import argparse
import sys

MODELS = ("resnet50", "bert-base", "digits-cnn")


def record_rank(rank: int, world_size: int, model_name: str, iterations: int, batch: int, sequence: int,
                path: str) -> dict:
    """One rank of the recording (the process group is initialised); returns the model's parameter count."""
    import torch
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    import switchsim.torch
    from switchsim.torch import models

    torch.manual_seed(0)
    if model_name == "resnet50":
        model = models.resnet50()
    elif model_name == "bert-base":
        model = models.bert_base()
    else:
        model = models.DigitsCNN()
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01)
    info = {"model": model_name, "batch_per_rank": batch, "device": "cpu", "torch": torch.__version__,
            "bucket_cap_mb": 25}
    if model_name == "bert-base":
        info["sequence"] = sequence
    state = switchsim.torch.register(ddp, method="float32", trace=path, optimizer=optimizer, trace_info=info)
    generator = torch.Generator().manual_seed(rank)
    for _ in range(iterations):
        optimizer.zero_grad()
        if model_name == "resnet50":
            x = torch.randn(batch, 3, 224, 224, generator=generator)
            loss = nn.functional.cross_entropy(ddp(x), torch.randint(0, 1000, (batch,), generator=generator))
        elif model_name == "bert-base":
            tokens = torch.randint(0, 30522, (batch, sequence), generator=generator)
            logits = ddp(tokens)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))
        else:
            x = torch.randn(batch, 1, 8, 8, generator=generator)
            loss = nn.functional.cross_entropy(ddp(x), torch.randint(0, 10, (batch,), generator=generator))
        loss.backward()
        optimizer.step()
    state.close()
    return {"parameters": sum(p.numel() for p in model.parameters())}


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m switchsim.torch.record", description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("out", help="trace file to write (JSON)")
    parser.add_argument("--iterations", type=int, default=4, help="training steps (default 4)")
    parser.add_argument("--batch", type=int, default=2, help="batch per rank (default 2)")
    parser.add_argument("--sequence", type=int, default=128, help="BERT: tokens per sequence (default 128)")
    parser.add_argument("--workers", type=int, default=2, help="ranks (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank (default 1)")
    args = parser.parse_args(argv)
    from switchsim.torch.launch import run_ranks

    result = run_ranks(record_rank, args.workers, (args.model, args.iterations, args.batch, args.sequence, args.out),
                       timeout_s=3600, threads=args.threads)[0]
    print(f"wrote {args.out}: {args.model}, {result['parameters']:,} parameters, {args.iterations} iterations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
