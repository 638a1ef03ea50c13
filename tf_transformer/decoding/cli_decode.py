"""`tf-transformer evaluate | translate | plot`: decoding with a trained or exported model.

--model PATH takes a training run directory, an exported version
(saved_models/NAME/VERSION) or a servable folder (saved_models/NAME: its highest
version); --run RUN is the older spelling for a run. With neither, the shipped model
saved_models/multi30k_de_en is used (see `tf_transformer.artifacts`). --model given
several times names training runs decoded as one ensemble (`tf_transformer.ensemble`: the
mean of their next-token probabilities, or with --ensemble-mode log_linear their
normalized geometric mean), each with its final weights; a weights file in a run
(RUN/checkpoints/epoch-025.weights.h5) is that run with those weights, so epoch
checkpoints of one run can be members too.

  tf-transformer evaluate [--model PATH] [--split NAME | --source FILE --reference FILE]
                          [--beam-size K] [--alpha A]
      Translates a split of the model's corpus (default: its first test split, for
      Multi30k test_2016_flickr), or any aligned source/reference files, with greedy
      search and (if --beam-size > 1) beam search, writes
      <output-dir>/<split>.<greedy|beamK>.txt (default output dir: RUN/eval, or
      eval/NAME-VERSION for an export), the sources and references in the
      same order (<split>.source.txt, <split>.reference.txt) and <split>.metrics.json,
      and prints
      cased sacreBLEU with its signature, lowercased BLEU, chrF, a tutorial-comparable
      BLEU (see `tf_transformer.decoding.evaluate`) and the decoding speed. With
      --uncached the decoder re-runs on the whole prefix at every step (no KV cache);
      its hypothesis files must be identical to a cached run's.
  tf-transformer translate [--model PATH] [--input FILE] [--output FILE] [--beam-size K]
      One translation per input line, stdin to stdout by default (a progress bar is
      shown when reading a file). Lines end at "\n" only (`tf_transformer.text`: other
      control characters become spaces), so output line N is the translation of input
      line N. Blank lines give empty lines; lines longer than the model's source
      positions are truncated, with a warning on stderr naming the first one.
  tf-transformer plot [--model PATH] "Ein Mann fährt Fahrrad." [--output-dir plots]
      Writes cross-attention and encoder self-attention heat-maps, one PNG per layer
      (greedy search unless --beam-size is given).

--beam-size and --alpha default to the model's config, `decoding` section: for a run
what `tf-transformer export` will serve (beam 4, alpha 0.6 unless the run set them),
for an export what its `serving_default` signature serves. Through an export,
`translate` and `evaluate` run the SavedModel's own signatures (the same results as
TF Serving) when they serve the search asked for; other searches, --xla, --uncached
and `plot` use the Keras model rebuilt from the export's weights.
"""
import argparse
import logging
import os
import sys

from tqdm import tqdm

from tf_transformer import artifacts, atomic
from tf_transformer.errors import UserError
from tf_transformer.text import read_lines
from tf_transformer.training.config import ENSEMBLE_MODES

# TensorFlow is imported on first use, so that `--help` answers at once.


def _add_decoding_arguments(parser: argparse.ArgumentParser, default_beam=None) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--model", default=None, action="append",
                       help="a training run directory, a weights file in one "
                            "(RUN/checkpoints/epoch-NNN.weights.h5), an export version folder "
                            "(saved_models/NAME/VERSION) or a model folder (saved_models/NAME: "
                            "its highest version); default: the shipped "
                            "saved_models/multi30k_de_en. Repeated: runs or checkpoints "
                            "decoded as one ensemble")
    where.add_argument("--run", default=None, help="training run directory (as --model)")
    parser.add_argument("--weights", default=None,
                        help="weights file of a run (default: the run's final weights)")
    parser.add_argument("--beam-size", type=int, default=default_beam,
                        help="beam size; 1 is greedy search (default: "
                             + (str(default_beam) if default_beam else
                                "the model config's decoding.beam_size") + ")")
    parser.add_argument("--alpha", type=float, default=None,
                        help="length penalty exponent, ((5 + len) / 6) ** alpha (default: "
                             "the model config's decoding.alpha)")
    parser.add_argument("--ensemble-mode", choices=ENSEMBLE_MODES, default=None,
                        help="with several --model runs: how their next-token "
                             "distributions combine, the mean of the probabilities (linear) "
                             "or their normalized geometric mean (log_linear) (default: the "
                             "first run config's decoding.ensemble_mode)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    parser.add_argument("--xla", action="store_true",
                        help="XLA-compile the search (faster per sentence, compiles per width)")


def _locate(args) -> artifacts.ModelLocation:
    """The model of --model/--run (the first member of an ensemble); also sets unset
    search options from its config and `args.members`, the ensemble's `ModelLocation`s."""
    members = [artifacts.locate(path) for path in args.model or [args.run]]
    location = members[0]
    args.members = members
    if len(members) > 1:
        exports = [member.path for member in members if member.kind != "run"]
        if exports:
            raise UserError("An ensemble (--model given more than once) takes training runs; "
                            f"{', '.join(exports)} is an export.")
        if args.weights:
            raise UserError("--weights takes one run; give an ensemble member other weights "
                            "with --model RUN/checkpoints/FILE.weights.h5.")
    elif args.ensemble_mode:
        raise UserError("--ensemble-mode combines several runs (--model given more than "
                        "once); an exported ensemble decodes as it was exported.")
    if args.weights and location.weights:
        raise UserError(f"--weights and --model {location.weights} both name weights: "
                        "give one.")
    if args.weights and location.kind != "run":
        raise UserError("--weights needs a training run (--model RUN or --run RUN); "
                        f"{location.path} is an export.")
    # Search defaults: the run config's `decoding` section, as `tf-transformer export`
    # serves it; an export records the search it serves there.
    from tf_transformer.decoding.run import search_options

    if location.kind == "export":
        config = artifacts.load_export_config(location.path)
    else:
        config = artifacts.load_run_config(location.path)
    args.beam_size, args.alpha = search_options(config, args.beam_size, args.alpha)
    if args.beam_size < 1:
        raise UserError(f"--beam-size must be >= 1, got {args.beam_size}.")
    args.config = config
    return location


def _translator(args, location, use_cache: bool = True, served: bool = False):
    """A `Translator` (Keras model), or with `served` and an export that serves the
    search asked for, a `ServedTranslator` (its SavedModel signatures)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from tf_transformer.decoding.translator import Translator

    if len(args.members) > 1:
        return Translator.from_run_dirs([m.path for m in args.members],
                                        ensemble_mode=args.ensemble_mode,
                                        weights=[m.weights for m in args.members],
                                        jit_compile=args.xla, use_cache=use_cache)
    if location.kind == "run":
        return Translator.from_run_dir(location.path, weights=args.weights or location.weights,
                                       jit_compile=args.xla, use_cache=use_cache)
    if served and use_cache and not args.xla:
        from tf_transformer.export.served import ServedTranslator

        config = args.config
        _, target_tokenizer = artifacts.build_tokenizers(
            config, os.path.join(location.path, artifacts.ASSETS_DIR))
        translator = ServedTranslator(location.path, config.decoding.beam_size,
                                      config.decoding.alpha, target_tokenizer)
        if translator.serves(args.beam_size, args.alpha):
            return translator
    return Translator.from_export(location.path, jit_compile=args.xla, use_cache=use_cache)


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    _add_decoding_arguments(parser)
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--split", default=None,
                      help="split of the model's corpus (default: its first test split; "
                           "Multi30k: test_2016_flickr)")
    data.add_argument("--source", default=None,
                      help="text file to translate, one sentence per line (with --reference)")
    parser.add_argument("--reference", default=None,
                        help="its reference translations, line by line (with --source)")
    parser.add_argument("--output-dir", default=None,
                        help="default: RUN/eval, or eval/NAME-VERSION for an export")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N sentences (quick checks)")
    parser.add_argument("--uncached", action="store_true",
                        help="decode without the KV cache (slow; diff the hypotheses with a "
                             "cached run to check that both agree)")


def run_evaluate(args) -> int:
    if (args.source is None) != (args.reference is None):
        raise UserError("--source and --reference go together: the file to translate and "
                        "its reference translations.")
    location = _locate(args)
    from tf_transformer.decoding.evaluate import evaluate, write_results

    # The data first: an unknown split fails before the model loads.
    if args.source:
        from tf_transformer.data.text_files import read_aligned_texts

        split, sources, references = "source", *read_aligned_texts(args.source, args.reference)
    else:
        from tf_transformer.decoding.run import split_pairs

        split, sources, references = split_pairs(args.config, args.split)
    sources, references = sources[:args.limit], references[:args.limit]
    translator = _translator(args, location, use_cache=not args.uncached, served=True)
    beam_sizes = (1,) if args.beam_size == 1 else (1, args.beam_size)
    runs = evaluate(translator, sources, references, beam_sizes, args.alpha, args.batch_size)
    print(f"{split}: {len(sources)} sentences, {location.kind} "
          + (f"ensemble of {', '.join(m.weights or m.path for m in args.members)}"
             if len(args.members) > 1 else location.weights or location.path))
    for run in runs:
        print(run.summary())
    print(f"sacreBLEU signature: {runs[0].scores['bleu_signature']}")
    print(f"chrF signature: {runs[0].scores['chrf_signature']}")
    paths = write_results(runs, args.output_dir or _eval_dir(location, args.members), split,
                          sources, references)
    print("wrote " + ", ".join(paths))
    return 0


def _eval_dir(location: artifacts.ModelLocation, members) -> str:
    """RUN/eval (an ensemble: RUN/eval/ensemble-RUN+RUN2..., RUN its first member, a
    member with other weights named RUN@FILE); an export's folder stays as exported
    (TF Serving may be reading it)."""
    if len(members) > 1:
        names = "+".join(_member_name(m) for m in members)
        return os.path.join(location.path, "eval", f"ensemble-{names}")
    if location.kind == "run":
        return os.path.join(location.path, "eval")
    version_dir = os.path.abspath(location.path)
    name = os.path.basename(os.path.dirname(version_dir))
    return os.path.join("eval", f"{name}-{os.path.basename(version_dir)}")


def _member_name(member: artifacts.ModelLocation) -> str:
    name = os.path.basename(os.path.abspath(member.path))
    if member.weights:
        name += "@" + os.path.basename(member.weights).removesuffix(artifacts.WEIGHTS_SUFFIX)
    return name


def add_translate_arguments(parser: argparse.ArgumentParser) -> None:
    _add_decoding_arguments(parser)
    parser.add_argument("--input", "-i", default=None, help="text file (default: stdin)")
    parser.add_argument("--output", "-o", default=None, help="text file (default: stdout)")


def run_translate(args) -> int:
    location = _locate(args)
    if args.input:
        with open(args.input, "rb") as f:
            lines = read_lines(f)
    else:
        lines = read_lines(sys.stdin.buffer)
    translator = _translator(args, location, served=True)
    # Chunks of several batches: batches are sorted by length within a chunk, and the
    # progress bar moves once per chunk.
    chunk = 8 * args.batch_size
    translations = []
    with tqdm(total=len(lines), unit="sent", disable=not args.input) as progress:
        for start in range(0, len(lines), chunk):
            part = lines[start:start + chunk]
            translations += translator.translate(part, args.beam_size, args.alpha,
                                                 args.batch_size)
            progress.update(len(part))
    text = "".join(t + "\n" for t in translations)
    if args.output:  # atomically: a killed run leaves the old file, not half a new one
        atomic.write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    _add_decoding_arguments(parser, default_beam=1)
    parser.add_argument("sentence", help="source sentence to translate and plot")
    parser.add_argument("--output-dir", default="plots", help="folder for the PNGs")


def run_plot(args) -> int:
    translator = _translator(args, _locate(args))
    from tf_transformer.decoding.plot import save_attention_plots

    (translation,) = translator.translate_detailed(
        [args.sentence], args.beam_size, args.alpha, with_attention=True)
    if not translation.source_tokens:
        raise UserError("Nothing to plot: the sentence is empty.")
    print(translation.text)
    for path in save_attention_plots(translation, args.output_dir):
        print(path)
    return 0
