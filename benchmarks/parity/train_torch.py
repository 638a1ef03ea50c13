"""Trains the PyTorch seed model on the dumped batches and writes its loss per update
(the PyTorch side of the parity experiment, see docs/parity.md).

Runs in a PyTorch environment (no TensorFlow needed). The model is the benchmark's
`Seq2SeqTransformer` (`torch_model.py` of the performance anchors: nn.Transformer
post-norm, 6+6 layers, d 256, 8 heads, ff 1024, dropout 0.1) with the vocabulary
sizes of the batches; the recipe is the seed's: Adam(5e-4, betas 0.9/0.98, eps 1e-9),
cross-entropy ignoring padding, float32, optionally with the project's warm-up
(`optimizer.schedule: inverse_sqrt`: linear to the peak, then 1/sqrt(step)):

    nice -n 19 torch-venv/bin/python benchmarks/parity/train_torch.py \
        --bench-dir path/to/bench --batches /tmp/parity/batches.npz --updates 400 \
        --seed 1 --out /tmp/parity/torch_s1.csv [--warmup-steps 4000] \
        [--save-init /tmp/parity/torch_init_s1.npz]

`--save-init` writes the initial weights (state_dict as arrays) for
`train_ours.py --init-from`, which copies them into our model.
"""

import argparse
import csv
import os
import sys

import numpy as np


def inverse_sqrt(warmup_steps):
    """The project's `InverseSqrtSchedule` as a factor of the peak rate, for LambdaLR."""
    return lambda update: min((update + 1) / warmup_steps, (warmup_steps / (update + 1)) ** 0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench-dir", required=True,
                        help="folder with the performance anchors' torch_model.py")
    parser.add_argument("--batches", required=True, help=".npz from dump_batches.py")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=0,
                        help="0: constant rate (the seed); >0: inverse_sqrt warm-up")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="0 with --save-init/--init-from: a deterministic check that "
                             "both frameworks compute the same updates")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save-init", help="write the initial weights to this .npz")
    parser.add_argument("--out", required=True, help="CSV of update,loss")
    args = parser.parse_args()

    import torch
    from torch import nn

    sys.path.insert(0, os.path.abspath(args.bench_dir))
    from bench_common import CFG
    from torch_model import Seq2SeqTransformer

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = np.load(args.batches)
    src_vocab, tgt_vocab = (int(v) for v in data["vocab_sizes"])
    model = Seq2SeqTransformer(src_vocab=src_vocab, tgt_vocab=tgt_vocab,
                               cfg=dict(CFG, dropout=args.dropout))
    if args.save_init:
        np.savez(args.save_init, **{k: v.numpy() for k, v in model.state_dict().items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate,
                                 betas=(0.9, 0.98), eps=1e-9)
    schedule = None
    if args.warmup_steps:
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, inverse_sqrt(args.warmup_steps))
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)

    def batch(i):
        return [torch.from_numpy(data[f"{name}_{i}"]).long()
                for name in ("source", "target_input", "target_output")]

    def loss_of(source, target_input, target_output):
        logits = model(source, target_input)
        return loss_fn(logits.reshape(-1, logits.size(-1)), target_output.reshape(-1))

    model.eval()
    with torch.no_grad():
        initial = loss_of(*batch(0)).item()
    print(f"initial loss on batch 0 without dropout: {initial:.5f}", flush=True)
    model.train()
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["update", "loss"])
        for i in range(args.updates):
            loss = loss_of(*batch(i))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            writer.writerow([i + 1, f"{loss.item():.5f}"])
            f.flush()


if __name__ == "__main__":
    main()
