"""`tf-transformer`: one command per stage of the pipeline.

Each subcommand lives beside the code it drives and exposes an argument hook
and a runner; this file only wires them together and turns the user's mistakes
(`tf_transformer.errors.UserError`, a missing or unreadable file) into one line
`tf-transformer: error: ...` with exit status 2 (`--debug` shows the traceback).
"""

import argparse
import importlib
import os
import sys

from tf_transformer import __version__, native_logs
from tf_transformer.errors import UserError

PROG = "tf-transformer"
# name -> (module, add-arguments function, run function, help)
COMMANDS = {
    "prepare": ("tf_transformer.training.cli_train", "add_prepare_arguments", "run_prepare",
                "check a run config's data and train its subword vocabularies"),
    "train": ("tf_transformer.training.cli_train", "add_arguments", "run",
              "train a model with model.fit from a run config"),
    "evaluate": ("tf_transformer.decoding.cli_decode", "add_evaluate_arguments",
                 "run_evaluate", "translate a split and score it with sacreBLEU"),
    "translate": ("tf_transformer.decoding.cli_decode", "add_translate_arguments",
                  "run_translate", "translate lines from stdin or a file"),
    "plot": ("tf_transformer.decoding.cli_decode", "add_plot_arguments", "run_plot",
             "write attention heat-maps for one sentence"),
    "export": ("tf_transformer.export.cli_export", "add_arguments", "run",
               "export a run as a versioned SavedModel for TF Serving"),
}
# OSErrors: a path the user gave (a missing --input file, an unwritable --run-dir), a
# full disk.
_PATH_ERRORS = (OSError,)


def build_parser(command=None):
    """The parser; only the module of `command` (if any) is imported."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train, evaluate, visualize and export Transformer translation models.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and TensorFlow's log lines")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, add_arguments, run, help_text) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        # Also accepted after the command; main() looks for it in argv.
        subparser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        if command == name:
            module = importlib.import_module(module)
            getattr(module, add_arguments)(subparser)
            # Not `run`: that is also the dest of the subcommands' --run flag.
            subparser.set_defaults(handler=getattr(module, run))
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if debug:
        return _main(argv, debug)
    # Quiet: warnings and errors only (before the subcommand's module imports TensorFlow).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import absl.logging

    absl.logging.set_verbosity(absl.logging.WARNING)
    with native_logs.dropped():
        return _main(argv, debug)


def _main(argv, debug: bool):
    # Import only the chosen subcommand's module (TensorFlow start-up is slow); --help
    # and --version import none.
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UserError, *_PATH_ERRORS) as error:
        if debug:
            raise
        message = str(error)
        if isinstance(error, OSError) and error.filename is not None and error.strerror:
            message = f"{error.filename}: {error.strerror}"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
