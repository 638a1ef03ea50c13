"""`tf-transformer evaluate | translate | plot`: decoding from a training run directory.

  tf-transformer evaluate --run RUN [--split test_2016_flickr] [--beam-size K] [--alpha A]
      Translates the split with greedy search and (if --beam-size > 1) beam search,
      writes RUN/eval/<split>.<greedy|beamK>.txt, the sources and references in the
      same order (<split>.source.txt, <split>.reference.txt) and <split>.metrics.json,
      and prints
      cased sacreBLEU with its signature, lowercased BLEU, chrF, a tutorial-comparable
      BLEU (see `tf_transformer.decoding.evaluate`) and the decoding speed. With
      --uncached the decoder re-runs on the whole prefix at every step (no KV cache);
      its hypothesis files must be identical to a cached run's.
  tf-transformer translate --run RUN [--input FILE] [--output FILE] [--beam-size K]
      One translation per input line, stdin to stdout by default (a progress bar is
      shown when reading a file). Lines end at "\n" only (`tf_transformer.text`: other
      control characters become spaces), so output line N is the translation of input
      line N. Blank lines give empty lines; lines longer than the model's source
      positions are truncated, with a warning on stderr naming the first one.
  tf-transformer plot --run RUN "Ein Mann fährt Fahrrad." [--output-dir plots]
      Writes cross-attention and encoder self-attention heat-maps, one PNG per layer
      (greedy search unless --beam-size is given).

--beam-size and --alpha default to the run config's `decoding` section (beam 4, alpha
0.6 unless the run set them), which is also what `tf-transformer export` serves.
"""
import argparse
import logging
import os
import sys

from tqdm import tqdm

from tf_transformer.decoding.evaluate import evaluate, write_results
from tf_transformer.decoding.plot import save_attention_plots
from tf_transformer.decoding.run import (
    CONFIG_FILE, load_run_config, load_split_pairs, search_options)
from tf_transformer.decoding.translator import Translator
from tf_transformer.text import read_lines
from tf_transformer.training.config import RunConfig


def _add_decoding_arguments(parser: argparse.ArgumentParser, default_beam=None) -> None:
    parser.add_argument("--run", required=True, help="training run directory")
    parser.add_argument("--weights", default=None,
                        help="weights file (default: the run's final weights)")
    parser.add_argument("--beam-size", type=int, default=default_beam,
                        help="beam size; 1 is greedy search (default: "
                             + (str(default_beam) if default_beam else
                                "the run config's decoding.beam_size, 4 unless set") + ")")
    parser.add_argument("--alpha", type=float, default=None,
                        help="length penalty exponent, ((5 + len) / 6) ** alpha (default: "
                             "the run config's decoding.alpha, 0.6 unless set)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    parser.add_argument("--xla", action="store_true",
                        help="XLA-compile the search (faster per sentence, compiles per width)")


def _translator(args, use_cache: bool = True) -> Translator:
    # Unset search options come from the run config, as for `tf-transformer export`.
    has_config = os.path.exists(os.path.join(args.run, CONFIG_FILE))
    config = load_run_config(args.run) if has_config else RunConfig()
    args.beam_size, args.alpha = search_options(config, args.beam_size, args.alpha)
    if args.beam_size < 1:
        raise SystemExit(f"--beam-size must be >= 1, got {args.beam_size}.")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    return Translator.from_run_dir(args.run, weights=args.weights, jit_compile=args.xla,
                                   use_cache=use_cache)


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    _add_decoding_arguments(parser)
    parser.add_argument("--split", default="test_2016_flickr",
                        help="TFDS split of the run's dataset (default test_2016_flickr)")
    parser.add_argument("--output-dir", default=None, help="default: RUN/eval")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N sentences (quick checks)")
    parser.add_argument("--uncached", action="store_true",
                        help="decode without the KV cache (slow; diff the hypotheses with a "
                             "cached run to check that both agree)")


def run_evaluate(args) -> int:
    translator = _translator(args, use_cache=not args.uncached)
    sources, references = load_split_pairs(args.run, args.split)
    sources, references = sources[:args.limit], references[:args.limit]
    beam_sizes = (1,) if args.beam_size == 1 else (1, args.beam_size)
    runs = evaluate(translator, sources, references, beam_sizes, args.alpha, args.batch_size)
    print(f"{args.split}: {len(sources)} sentences, run {args.run}")
    for run in runs:
        print(run.summary())
    print(f"sacreBLEU signature: {runs[0].scores['bleu_signature']}")
    print(f"chrF signature: {runs[0].scores['chrf_signature']}")
    paths = write_results(runs, args.output_dir or os.path.join(args.run, "eval"), args.split,
                          sources, references)
    print("wrote " + ", ".join(paths))
    return 0


def add_translate_arguments(parser: argparse.ArgumentParser) -> None:
    _add_decoding_arguments(parser)
    parser.add_argument("--input", "-i", default=None, help="text file (default: stdin)")
    parser.add_argument("--output", "-o", default=None, help="text file (default: stdout)")


def run_translate(args) -> int:
    translator = _translator(args)
    if args.input:
        with open(args.input, "rb") as f:
            lines = read_lines(f)
    else:
        lines = read_lines(sys.stdin.buffer)
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
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    _add_decoding_arguments(parser, default_beam=1)
    parser.add_argument("sentence", help="source sentence to translate and plot")
    parser.add_argument("--output-dir", default="plots", help="folder for the PNGs")


def run_plot(args) -> int:
    translator = _translator(args)
    (translation,) = translator.translate_detailed(
        [args.sentence], args.beam_size, args.alpha, with_attention=True)
    if not translation.source_tokens:
        raise SystemExit("Nothing to plot: the sentence is empty.")
    print(translation.text)
    for path in save_attention_plots(translation, args.output_dir):
        print(path)
    return 0
