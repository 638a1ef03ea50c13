"""`tf-transformer`: one command per stage of the pipeline.

Each subcommand lives beside the code it drives and exposes an argument hook
and a runner; this file only wires them together.
"""

import argparse
import importlib
import sys

# name -> (module, add-arguments function, run function, help)
COMMANDS = {
    "prepare": ("tf_transformer.data.prepare", "add_arguments", "run",
                "build the Multi30k dataset and the subword vocabularies"),
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


def build_parser(command=None):
    """The parser; only the module of `command` (if any) is imported."""
    parser = argparse.ArgumentParser(
        prog="tf-transformer",
        description="Train, evaluate, visualize and export Transformer translation models.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, add_arguments, run, help_text) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        if command == name:
            module = importlib.import_module(module)
            getattr(module, add_arguments)(subparser)
            # Not `run`: that is also the dest of the subcommands' --run flag.
            subparser.set_defaults(handler=getattr(module, run))
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # Import only the chosen subcommand's module (TensorFlow start-up is slow).
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
