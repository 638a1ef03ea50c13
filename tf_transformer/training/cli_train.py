"""`tf-transformer train --config seed|best|FILE [--set section.key=value ...]`."""

import argparse
import os
import sys

import yaml

from tf_transformer.errors import UserError
from tf_transformer.training import config as run_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "--print-config", action="store_true",
        help="print the resolved config (every field) as YAML and exit",
    )
    parser.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1,
        help="0: quiet, 1: progress bars (default), 2: one line per epoch",
    )


def run(args: argparse.Namespace) -> int:
    """Trains as the config says; returns the exit status (2 for a bad config)."""
    try:
        config = run_config.load(args.config, args.overrides)
    except run_config.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    name = os.path.splitext(os.path.basename(args.config))[0]
    run_dir = args.run_dir or os.path.join("runs", name)
    from tf_transformer.training.trainer import train  # TensorFlow starts here

    try:
        train(config, run_dir, verbose=args.verbose)
    except (UserError, OSError) as error:  # a bad config, a locked or unwritable run dir
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Run directory: {run_dir} (final weights: {os.path.join(run_dir, 'model.weights.h5')})")
    return 0
