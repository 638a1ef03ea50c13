"""Plots the parity runs' loss curves and prints the table of docs/parity.md.

Each run is a CSV of `update,loss` (`train_torch.py`, `train_ours.py`); a label names
it as `LABEL=PATH`. Curves are smoothed by a running mean over `--window` updates
(the raw per-batch loss jumps with the batch); the table reads the same smoothed
values at `--at` updates:

    python benchmarks/parity/plot.py --out docs/parity_loss.png \
        "PyTorch seed 1=/tmp/parity/torch_s1.csv" "ours seed 1=/tmp/parity/ours_s1.csv"
"""

import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the headless backend)
import numpy as np  # noqa: E402


def read_losses(path):
    with open(path, newline="") as f:
        return np.array([float(row["loss"]) for row in csv.DictReader(f)])


def smooth(losses, window):
    """Running mean over the last `window` updates (fewer at the start)."""
    sums = np.cumsum(np.concatenate([[0.0], losses]))
    ends = np.arange(1, len(losses) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=PATH")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--at", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--title", default="Seed recipe on identical batches")
    args = parser.parse_args()

    fig, ax = plt.subplots(figsize=(8, 5))
    print("| run | " + " | ".join(f"loss @{n}" for n in args.at) + " |")
    print("|---|" + "---|" * len(args.at))
    for run in args.runs:
        label, path = run.split("=", 1)
        curve = smooth(read_losses(path), args.window)
        style = "-" if label.lower().startswith("pytorch") else "--"
        ax.plot(np.arange(1, len(curve) + 1), curve, style, label=label)
        cells = [f"{curve[n - 1]:.2f}" if n <= len(curve) else "–" for n in args.at]
        print(f"| {label} | " + " | ".join(cells) + " |")
    ax.set_xlabel("update (batch of 128 pairs)")
    ax.set_ylabel(f"training loss (running mean of {args.window} updates)")
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
