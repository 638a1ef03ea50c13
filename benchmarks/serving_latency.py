"""Latency and throughput of the exported SavedModel against the in-memory model.

Exports a model with `tf_transformer.export.exporter.export` into a temporary folder,
loads it back with `tf.saved_model.load` (as a server would: strings in, strings out)
and times its signatures against the in-memory `Translator` with the same search:

- batch-1 latency: median over the first --latency-n test_2016_flickr German sentences,
  one request each (greedy and beam K);
- batch-64 throughput: sentences/s over the first --batches batches of 64 (greedy and
  beam K).

Model: a training run (--run RUN), else a randomly initialised seed-size model (d_model
256, 8 heads, 6+6 layers, ff 1024) with SentencePiece vocabularies of 8000 trained on
the Multi30k training set. A random model rarely emits EOS, so every sentence then
decodes to its length limit (ceil(1.5 * source tokens) + 10): the slowest case, the
same for both sides. Threads as ../shared/bench (BENCH_THREADS, default 2).

Usage (from the repository root):
  .venv/bin/python benchmarks/serving_latency.py [--run RUN] [--beam-size 4]
Prints one line per measurement and one JSON line last.
"""
import argparse
import os
import statistics
import tempfile
import time

import bench_env  # noqa: F401, E402  (paths and environment; first)
import bench_common as bc  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_transformer.artifacts import build_model, load_run  # noqa: E402
from tf_transformer.data.tokenizer import build_tokenizer  # noqa: E402
from tf_transformer.decoding.translator import Translator  # noqa: E402
from tf_transformer.export.exporter import export  # noqa: E402
from tf_transformer.training.config import ModelConfig  # noqa: E402

BATCH = 64


def random_seed_model(vocab_dir):
    """Seed-size random model and SentencePiece tokenizers trained on Multi30k train."""
    source, target = (
        build_tokenizer(bc.read_lines(f"train.{lang}.gz"),
                        os.path.join(vocab_dir, f"{lang}.cased.8000.model"), 8000)
        for lang in ("de", "en"))
    keras.utils.set_random_seed(bc.SEED)
    model = build_model(ModelConfig(preset="seed"), source.vocab_size, target.vocab_size)
    return model, source, target


def timed(function, calls):
    """Seconds of each call after one untimed warm-up call of the first."""
    function(calls[0])
    times = []
    for call in calls:
        start = time.perf_counter()
        function(call)
        times.append(time.perf_counter() - start)
    return times


def measure(name, translate, singles, batches):
    """translate(list of str) -> anything; returns and prints the numbers."""
    latencies = timed(translate, [[s] for s in singles])
    batch_times = timed(translate, batches)
    result = dict(variant=name, latency_b1_ms=round(1000 * statistics.median(latencies), 1),
                  latency_b1_min_ms=round(1000 * min(latencies), 1),
                  sent_per_s_b64=round(sum(map(len, batches)) / sum(batch_times), 2))
    print(result, flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=None, help="training run (default: random seed model)")
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--latency-n", type=int, default=20)
    parser.add_argument("--batches", type=int, default=4, help="batches of 64 for throughput")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(bc.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(bc.INTEROP)
    sentences = bc.read_lines("test_2016_flickr.de.gz")
    singles = sentences[:args.latency_n]
    batches = [sentences[i:i + BATCH] for i in range(0, args.batches * BATCH, BATCH)]

    with tempfile.TemporaryDirectory() as tmp:
        if args.run:
            model, source, target = load_run(args.run)
        else:
            model, source, target = random_seed_model(os.path.join(tmp, "vocab"))
        start = time.perf_counter()
        exported = export(model, source, target, os.path.join(tmp, "saved_models"), "bench",
                          warmup_sentences=singles[:3], beam_size=args.beam_size)
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded = tf.saved_model.load(exported.path)
        load_s = time.perf_counter() - start
        translator = Translator(model, source, target)
        results = []
        for search, signature, beam_size in (("greedy", "translate_greedy", 1),
                                             (f"beam{args.beam_size}", "serving_default",
                                              args.beam_size)):
            function = loaded.signatures[signature]
            results.append(measure(f"saved_model_{search}", lambda batch, f=function: f(
                inputs=tf.constant(batch))["translations"].numpy(), singles, batches))
            results.append(measure(f"in_memory_{search}", lambda batch, k=beam_size:
                                   translator.translate(batch, beam_size=k), singles, batches))
    ratios = {f"saved_model_vs_in_memory_{r['variant'].split('_', 2)[-1]}": dict(
        latency=round(r["latency_b1_ms"] / m["latency_b1_ms"], 3),
        throughput=round(r["sent_per_s_b64"] / m["sent_per_s_b64"], 3))
        for r, m in zip(results[::2], results[1::2])}
    bc.emit(dict(script="serving_latency",
                 framework=f"tensorflow {tf.__version__} keras {keras.__version__}",
                 model=args.run or "seed (random weights)", params=int(model.count_params()),
                 export_s=round(export_s, 1), load_s=round(load_s, 1), results=results,
                 ratios=ratios))


if __name__ == "__main__":
    main()
