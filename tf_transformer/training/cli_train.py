"""`tf-transformer prepare | train --config seed|best|FILE [--set section.key=value ...]`.

Both take the same --config, --set and --run-dir (`add_run_arguments`, `resolve_run`):
`prepare` gets exactly what `train` reads ready in the run directory (the corpus
checked, the tokenizers trained; `tf_transformer.data.prepare.prepare_run`) and prints
its statistics; `train` reuses it.
"""

import argparse
import os
import time

import yaml

from tf_transformer.training import config as run_config


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --set and --run-dir, shared by `train` and `prepare`."""
    parser.add_argument(
        "--config", default="seed",
        help="a shipped run config (seed: the seed recipe; best: the best one) or a YAML "
             "file; default seed",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one config field, e.g. --set training.epochs=3 (repeatable)",
    )
    parser.add_argument(
        "--run-dir",
        help="output folder (default runs/<config name>); running again with the same "
             "folder resumes the run",
    )


def resolve_run(args: argparse.Namespace):
    """(run config, run directory) of the --config/--set/--run-dir arguments."""
    config = run_config.load(args.config, args.overrides)
    name = os.path.splitext(os.path.basename(args.config))[0]
    return config, args.run_dir or os.path.join("runs", name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument(
        "--print-config", action="store_true",
        help="print the resolved config (every field) as YAML and exit",
    )
    parser.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1,
        help="0: quiet, 1: progress bars (default), 2: one line per epoch",
    )


def run(args: argparse.Namespace) -> int:
    """Trains as the config says; returns the exit status (a bad config raises
    `ConfigError`, which `tf-transformer` prints as one line)."""
    config, run_dir = resolve_run(args)
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    from tf_transformer.training.trainer import train  # TensorFlow starts here

    train(config, run_dir, verbose=args.verbose)
    print(f"Run directory: {run_dir} (final weights: {os.path.join(run_dir, 'model.weights.h5')})")
    return 0


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument(
        "--source-dir", default=None,
        help="folder with the raw Multi30k files (train.de.gz, ...; sets data.data_dir); "
             "default $MULTI30K_DIR, else download")


def run_prepare(args: argparse.Namespace) -> int:
    """Prepares the run's data and tokenizers and prints statistics; returns the exit status."""
    from tqdm import tqdm

    from tf_transformer.data.prepare import languages, prepare_run, split_statistics
    from tf_transformer.training.lock import run_lock

    start = time.perf_counter()
    if args.source_dir is not None:
        args.overrides = [*args.overrides, f"data.data_dir={args.source_dir}"]
    config, run_dir = resolve_run(args)
    print(f"Preparing {config.data.source} data for {run_dir} ...", flush=True)
    with run_lock(run_dir):  # a training of the same folder reads what this writes
        config, corpus, tokenizers, reports = prepare_run(config, run_dir)
    for lang, tokenizer in zip(languages(config.data), tokenizers):
        path = tokenizer.model_file.asset_path.numpy().decode()
        print(f"Tokenizer {lang}: vocab_size {tokenizer.vocab_size}, {path}")
    max_length = config.data.max_length
    for split in tqdm(corpus.split_names, desc="Statistics", unit="split"):
        stats = split_statistics(corpus.pairs(split), *tokenizers, max_length)
        skipped = reports[split]["skipped"]
        tqdm.write(
            f"{split}: {stats['pairs']} pairs"
            + (f" ({sum(skipped.values())} lines skipped: "
               + ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items()))
               + ")" if skipped else "")
            + f", {stats['source_tokens']} source and {stats['target_tokens']} target tokens, "
            f"longest {stats['longest']}, {stats['over_max_length']} over data.max_length "
            f"{max_length}, round trip {stats['source_round_trip']:.2%} / "
            f"{stats['target_round_trip']:.2%}"
        )
    print(f"Prepared in {time.perf_counter() - start:.1f} s; `tf-transformer train` with the "
          "same --config and --run-dir reuses it.")
    return 0
