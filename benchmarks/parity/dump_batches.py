"""Saves the seed recipe's first training batches as NumPy arrays (step 1 of the
PyTorch parity experiment, see docs/parity.md).

The batches come from the very pipeline `tf-transformer train --config seed` uses
(`trainer._datasets`: Multi30k de->en, lowercased SentencePiece vocabularies of 8000,
128 pairs per batch, seeded shuffle), in training order, so that the PyTorch model
(`train_torch.py`) and ours (`train_ours.py`) see identical batches:

    MULTI30K_DIR=... nice -n 19 python -m benchmarks.parity.dump_batches \
        --run-dir /tmp/parity/run --out /tmp/parity/batches.npz --batches 400

The .npz holds `source_<i>`, `target_input_<i>`, `target_output_<i>` (int32, padded
with 0) for i < batches, and `vocab_sizes` = (source, target). The run directory
keeps the tokenizers (it is an ordinary run directory, prepared but not trained).
"""

import argparse
import itertools
import os

import numpy as np

from tf_transformer.training import config as run_config
from tf_transformer.training.trainer import _datasets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="where the tokenizers are prepared")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--config", default="seed", help="run config (default: seed)")
    args = parser.parse_args()

    config = run_config.load(args.config)
    _, _, (source_tokenizer, target_tokenizer), make_train, _ = _datasets(config, args.run_dir)
    arrays = {"vocab_sizes": np.array([source_tokenizer.vocab_size,
                                       target_tokenizer.vocab_size])}
    for i, ((source, target_input), target_output) in enumerate(
            itertools.islice(make_train().repeat(), args.batches)):
        arrays[f"source_{i}"] = source.numpy()
        arrays[f"target_input_{i}"] = target_input.numpy()
        arrays[f"target_output_{i}"] = target_output.numpy()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {args.batches} batches, vocab sizes {arrays['vocab_sizes'].tolist()}")


if __name__ == "__main__":
    main()
