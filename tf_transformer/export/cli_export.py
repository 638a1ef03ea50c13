"""`tf-transformer export`: a training run as a versioned SavedModel for TF Serving.

  tf-transformer export --run RUN [--run RUN2 ...] --name NAME [--version N]
                        [--beam-size K] [--alpha A] [--ensemble-mode MODE]
                        [--output-dir saved_models]
                        [--weights FILE] [--overwrite] [--xla]

Writes saved_models/NAME/VERSION/ (VERSION: one more than the highest existing) and
saved_models/NAME/keras/VERSION.keras; see `tf_transformer.export.exporter` for the
layout and the README section "Serve with TF Serving" for serving it. Search
defaults come from the run config's `decoding` section (beam 4, alpha 0.6); the
export's assets/config.yaml is the run config with the search it serves there.
Several --run give one SavedModel that decodes the runs as an ensemble
(`tf_transformer.ensemble`), each with its final weights; a --run that names a weights
file in a run (RUN/checkpoints/epoch-025.weights.h5) is that run with those weights, so
epoch checkpoints can be members too. The first run's config sets the
search and how the members combine (`--ensemble-mode`, default its
`decoding.ensemble_mode`), the others' are kept as assets/member2.yaml, member3.yaml ...
"""

import argparse
import dataclasses
import os
import tempfile

from tf_transformer.artifacts import (CONFIG_FILE, ExportError, load_ensemble, load_run,
                                     load_run_config, member_config_file, run_and_weights)
from tf_transformer.data.prepare import warmup_sentences
from tf_transformer.decoding.run import search_options
from tf_transformer.export.exporter import export
from tf_transformer.export.versions import resolve_version, servable_dir
from tf_transformer.training import config as run_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, action="append",
                        help="training run directory, or a weights file in one "
                             "(RUN/checkpoints/epoch-NNN.weights.h5); repeated: their ensemble "
                             "(runs trained with the same vocabularies)")
    parser.add_argument("--name", required=True,
                        help="servable name, e.g. multi30k_de_en (TF Serving's --model_name)")
    parser.add_argument("--version", type=int, default=None,
                        help="version number (default: one more than the highest existing)")
    parser.add_argument("--beam-size", type=int, default=None,
                        help="beam size of serving_default; 1 is greedy "
                             "(default: the run config's decoding.beam_size)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="length penalty exponent (default: the run config's "
                             "decoding.alpha)")
    parser.add_argument("--ensemble-mode", choices=run_config.ENSEMBLE_MODES, default=None,
                        help="with several --run: how their next-token distributions "
                             "combine, the mean of the probabilities (linear) or their "
                             "normalized geometric mean (log_linear) (default: the first "
                             "run config's decoding.ensemble_mode)")
    parser.add_argument("--output-dir", default="saved_models",
                        help="folder of the servables (default saved_models)")
    parser.add_argument("--weights", default=None,
                        help="weights file of a single run (default: the run's final weights)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the version if it exists (default: refuse)")
    parser.add_argument("--xla", action="store_true",
                        help="compile the search of serving_default and translate_greedy "
                             "with XLA (faster; TF Serving then needs "
                             "--xla_cpu_compilation_enabled)")


def run(args: argparse.Namespace) -> int:
    """Exports the run; returns the exit status (mistakes raise `ExportError`)."""
    if args.beam_size is not None and args.beam_size < 1:
        raise ExportError(f"--beam-size must be >= 1, got {args.beam_size}.")
    if args.weights and len(args.run) > 1:
        raise ExportError("--weights takes a single --run; give an ensemble member other "
                          "weights with --run RUN/checkpoints/FILE.weights.h5.")
    if args.ensemble_mode and len(args.run) == 1:
        raise ExportError("--ensemble-mode combines several runs (--run given more than "
                          "once).")
    try:
        # Fail before the slow part: a taken version, a bad name, a folder that is no run.
        base_dir = servable_dir(args.output_dir, args.name)
        resolve_version(base_dir, args.version, args.overwrite)
        run_dirs, weights = zip(*(run_and_weights(path) for path in args.run))
        if args.weights and weights[0]:
            raise ExportError(f"--weights and --run {weights[0]} both name weights: give one.")
        configs = [load_run_config(run_dir) for run_dir in run_dirs]
        config = configs[0]
        beam_size, alpha = search_options(config, args.beam_size, args.alpha)
        mode = args.ensemble_mode or config.decoding.ensemble_mode
        print(f"Loading {', '.join(args.run)} ...", flush=True)
        if len(args.run) > 1:
            model, source_tokenizer, target_tokenizer = load_ensemble(run_dirs, mode, weights)
        else:
            model, source_tokenizer, target_tokenizer = load_run(
                run_dirs[0], args.weights or weights[0])
        print(f"Writing {base_dir}/ ...", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            # The export records the search it serves: `Translator.from_export` and
            # `tf-transformer translate --model` default to it, and `load_export` combines
            # an ensemble's members as its signatures do.
            served_config = os.path.join(folder, CONFIG_FILE)
            run_config.dump(dataclasses.replace(
                config, decoding=run_config.DecodingConfig(beam_size, alpha, mode)),
                served_config)
            assets = [served_config]
            for index, member_config in enumerate(configs[1:], 2):
                assets.append(os.path.join(folder, member_config_file(index)))
                run_config.dump(member_config, assets[-1])
            result = export(
                model, source_tokenizer, target_tokenizer, args.output_dir, args.name,
                warmup_sentences=warmup_sentences(run_dirs[0], config),
                version=args.version, overwrite=args.overwrite, beam_size=beam_size,
                alpha=alpha, assets=assets, jit_compile=args.xla)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise ExportError(str(error)) from error
    print(f"SavedModel: {result.path} (serving_default: beam {beam_size}, "
          f"alpha {alpha}; translate_greedy; tokenize)"
          + (f"; an ensemble of {len(args.run)} members, {mode}" if len(args.run) > 1 else ""))
    print(f"Keras model{'s' if len(result.keras_paths) > 1 else ''}: "
          f"{', '.join(result.keras_paths)}")
    print(f"Serve it with TF Serving >= 2.20, model base path {os.path.abspath(base_dir)} "
          "(README: Serve with TF Serving).")
    if args.xla:
        print("XLA export: start tensorflow_model_server with --xla_cpu_compilation_enabled; "
              "without it this version fails to load (its warm-up requests run the XLA "
              "search).")
    return 0
