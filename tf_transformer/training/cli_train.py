"""`tf-transformer train --config seed|best|FILE [--set section.key=value ...]`.

`tf-transformer prepare` takes the same --config, --set and --run-dir
(`add_run_arguments`, `resolve_run`) and prepares exactly what `train` reads.
"""

import argparse
import os

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
