"""Decoding throughput and latency of tf_transformer's cached greedy and beam search.

The workload of ../shared/bench/decode_*.py (their `bench_common.py` is imported): a
randomly initialised seed-size model (d_model 256, 8 heads, 6+6 layers, ff 1024,
vocabularies 8000/6000), the 1000 test_2016_flickr sentences in batches of 64, every
sentence forced to exactly 30 generated tokens (EOS is masked, like CTranslate2's
min_decoding_length), 2 intra-op threads, fp32. Variants: greedy and beam 4, each
with and without XLA (`jit_compile`); batch-1 latency is the median over the first
--latency-n sentences. Under XLA every distinct source width compiles once, so sources
are padded to a multiple of 8 columns and every shape is compiled before timing
(reported as compile_s); padding never changes the output.

The `saved_model_*` variants time the path users deploy: the same weights exported as
the servable (`TranslationModule`: strings in, SentencePiece, search, strings out;
`_xla` with `export --xla`), reloaded with `tf.saved_model.load` as the model server
runtime does, and called through `translate_greedy` / `serving_default` on the raw
German sentences. Their tokenizers are SentencePiece models of the bench vocabulary
sizes trained on Multi30k train (cached in the temp dir), so sources are subwords
rather than the anchors' words (mean_src_tokens tells how many). The export forces 30
steps like the anchors: every row's limit is 30 tokens and the EOS logit's bias is
-1e9, so no row ends early.

With --run RUN it instead times a trained model end to end (strings in, strings out,
stopping at EOS) through `Translator` on the raw test_2016_flickr German sentences.

Usage (from the repository root; the anchors' folder is ../shared/bench or $BENCH_DIR):
  .venv/bin/python benchmarks/decode_throughput.py [--variants greedy,beam4] [--xla both]
      [--paths model,saved_model] [--batches N]
  .venv/bin/python benchmarks/decode_throughput.py --run runs/seed
Prints one line per variant and one JSON line last, with the keys of decode_tf.py.
"""
import argparse
import os
import statistics
import tempfile
import time

import bench_env  # noqa: F401, E402  (paths and environment; first)
import bench_common as bc  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_transformer.data.tokenizer import build_tokenizer  # noqa: E402
from tf_transformer.decoding.search import NEG_INF, beam_search, greedy_search  # noqa: E402
from tf_transformer.export.serving import TranslationModule  # noqa: E402
from tf_transformer.model import Transformer  # noqa: E402
from tf_transformer.special_tokens import EOS_ID  # noqa: E402

XLA_WIDTH_MULTIPLE = 8


def make_decoder(model, beam_size, jit_compile):
    """A tf.function: source ids (B, S) -> (B, 30) best ids, 30 forced steps."""
    steps = bc.DECODE_STEPS
    no_eos = tf.one_hot(bc.EOS, model.config.tgt_vocab_size) * NEG_INF

    def next_fn(tokens, cache, index):
        logits, cache = model.decode_step(tokens, cache, index)
        return logits + no_eos, cache

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def decode(source_ids):
        batch = tf.shape(source_ids)[0]
        memory, _ = model.encode(source_ids, training=False)
        cache = model.init_cache(memory, source_ids, steps, beam_size)
        if beam_size == 1:
            return greedy_search(next_fn, cache, batch, steps).ids
        return beam_search(next_fn, cache, batch, steps, beam_size, alpha=0.6,
                           reorder_cache=model.reorder_cache).ids[:, 0]

    return decode


def pad_width(batch, multiple):
    width = -(-batch.shape[1] // multiple) * multiple
    return np.pad(batch, [(0, 0), (0, width - batch.shape[1])])


def measure(decode, warmup, batches, singles):
    """Runs `decode` on the `warmup` inputs untimed (they must trace every function and
    compile every XLA shape), then times the batches and each single.
    Returns (compile_s, total_s, latencies_s, outputs)."""
    t0 = time.perf_counter()
    for inputs in warmup:
        decode(inputs)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    outputs = [decode(inputs) for inputs in batches]
    total = time.perf_counter() - t0
    latencies = []
    for inputs in singles:
        t0 = time.perf_counter()
        decode(inputs)
        latencies.append(time.perf_counter() - t0)
    return compile_s, total, latencies, outputs


def result_line(variant, n_sent, total, latencies, compile_s, **extra):
    """One variant's results, with the keys of the anchors' decode_*.py."""
    return dict(variant=variant, sentences=n_sent, batch=bc.DECODE_BATCH,
                steps=bc.DECODE_STEPS, mean_out_len=float(bc.DECODE_STEPS),
                total_s=round(total, 2), sent_per_s=round(n_sent / total, 2),
                gen_tok_per_s=round(n_sent * bc.DECODE_STEPS / total, 1),
                latency_b1_ms=round(1000 * statistics.median(latencies), 1),
                latency_b1_min_ms=round(1000 * min(latencies), 1),
                compile_s=round(compile_s, 1), **extra)


def search_name(beam_size):
    return "greedy" if beam_size == 1 else f"beam{beam_size}"


def run_variant(model, batches, singles, beam_size, jit_compile):
    decode = make_decoder(model, beam_size, jit_compile)
    multiple = XLA_WIDTH_MULTIPLE if jit_compile else 1
    batches = [pad_width(b, multiple) for b in batches]
    singles = [pad_width(s, multiple) for s in singles]
    warmup = [np.ones(shape, np.int32) for shape in sorted({b.shape for b in batches + singles})]
    compile_s, total, latencies, outputs = measure(
        lambda src: decode(src).numpy(), warmup, batches, singles)
    for src, out in zip(batches, outputs):
        assert out.shape == (src.shape[0], bc.DECODE_STEPS) and np.all(out != bc.EOS), out
    variant = f"tf_transformer_{search_name(beam_size)}_cached{'_xla' if jit_compile else ''}_fp32"
    return result_line(variant, sum(len(b) for b in batches), total, latencies, compile_s)


def bench_tokenizers():
    """SentencePiece models of the bench vocabulary sizes, trained once on Multi30k train."""
    folder = os.path.join(tempfile.gettempdir(), "tf_transformer_bench_vocab")
    os.makedirs(folder, exist_ok=True)
    return tuple(build_tokenizer(bc.read_lines(f"train.{lang}.gz"),
                                 os.path.join(folder, f"{lang}.{size}.model"), size)
                 for lang, size in (("de", bc.SRC_VOCAB), ("en", bc.TGT_VOCAB)))


def export_forced_steps(model, tokenizers, folder, beam_size, jit_compile):
    """The servable of `model`, reloaded: every row generates exactly DECODE_STEPS tokens.

    A copy of the EOS logit's bias set to -1e9 keeps rows from ending early (the anchors
    set min_decoding_length); the limit `0 * source + DECODE_STEPS` ends them all there.
    """
    bias = model.output_projection.bias
    original = bias.numpy()
    bias.assign(np.where(np.arange(len(original)) == EOS_ID, NEG_INF, original))
    try:
        module = TranslationModule(model, *tokenizers, beam_size=beam_size, alpha=0.6,
                                   max_length_ratio=0.0, max_length_offset=bc.DECODE_STEPS,
                                   jit_compile=jit_compile)
        tf.saved_model.save(module, folder, signatures=module.signatures())
    finally:
        bias.assign(original)
    return tf.saved_model.load(folder)


def run_saved_model(model, tokenizers, sentence_batches, beam_size, jit_compile, latency_n):
    """The exported servable through its signature, on raw sentences (see the docstring)."""
    with tempfile.TemporaryDirectory() as folder:
        loaded = export_forced_steps(model, tokenizers, folder, beam_size, jit_compile)
        signature = loaded.signatures["translate_greedy" if beam_size == 1
                                      else "serving_default"]
        batches = [tf.constant(b) for b in sentence_batches]
        singles = [tf.constant([s]) for s in sentence_batches[0][:latency_n]]
        # Every input once, like the in-memory variants' warm-up of every shape: under XLA
        # each shape bucket compiles, and in graph mode too a shape's first call is slower
        # (per-shape kernel set-up: the batch-1 calls took about 1.2x on first sight).
        compile_s, total, latencies, outputs = measure(
            lambda inputs: signature(inputs=inputs)["translations"].numpy(), batches + singles,
            batches, singles)
    source_tokens = [int(tf.reduce_sum(tokenizers[0].tokenize(b).row_lengths())) for b in batches]
    for inputs, out in zip(batches, outputs):
        assert out.shape == inputs.shape and all(out), out
    n_sent = sum(len(b) for b in sentence_batches)
    variant = f"saved_model_{search_name(beam_size)}{'_xla' if jit_compile else ''}"
    return result_line(variant, n_sent, total, latencies, compile_s,
                       mean_src_tokens=round(sum(source_tokens) / n_sent, 2))


def run_trained(run_dir, beam_size, jit_compile, latency_n):
    """Translator on raw sentences, stopping at EOS: sentences/s and batch-1 latency."""
    from tf_transformer.decoding.translator import Translator

    translator = Translator.from_run_dir(run_dir, jit_compile=jit_compile)
    sentences = bc.read_lines("test_2016_flickr.de.gz")
    t0 = time.perf_counter()  # warm-up: traces (and under XLA compiles) every shape
    translator.translate(sentences, beam_size, batch_size=bc.DECODE_BATCH)
    for sentence in sentences[:latency_n]:
        translator.translate([sentence], beam_size)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = translator.translate_detailed(sentences, beam_size, batch_size=bc.DECODE_BATCH)
    total = time.perf_counter() - t0
    tokens = sum(len(r.target_tokens) for r in results)
    latencies = []
    for sentence in sentences[:latency_n]:
        t0 = time.perf_counter()
        translator.translate([sentence], beam_size)
        latencies.append(time.perf_counter() - t0)
    name = "greedy" if beam_size == 1 else f"beam{beam_size}"
    return dict(variant=f"tf_transformer_trained_{name}{'_xla' if jit_compile else ''}_fp32",
                sentences=len(sentences), batch=bc.DECODE_BATCH, steps="eos",
                mean_out_len=round(tokens / len(sentences), 2), total_s=round(total, 2),
                sent_per_s=round(len(sentences) / total, 2),
                gen_tok_per_s=round(tokens / total, 1),
                latency_b1_ms=round(1000 * statistics.median(latencies), 1),
                latency_b1_min_ms=round(1000 * min(latencies), 1),
                compile_s=round(compile_s, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="greedy,beam4", help="greedy and/or beamK")
    ap.add_argument("--xla", choices=["off", "on", "both"], default="both")
    ap.add_argument("--latency-n", type=int, default=20)
    ap.add_argument("--batches", type=int, default=None,
                    help="only the first N batches (a quick check; not the bench workload)")
    ap.add_argument("--paths", default="model,saved_model",
                    help="model (in-memory search functions) and/or saved_model (the "
                         "exported servable, reloaded)")
    ap.add_argument("--run", default=None, help="time this trained run instead (stops at EOS)")
    args = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(bc.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(bc.INTEROP)
    keras.utils.set_random_seed(bc.SEED)
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    beam_sizes = [1 if v == "greedy" else int(v.removeprefix("beam"))
                  for v in args.variants.split(",")]
    if args.run:
        results = [run_trained(args.run, beam_size, jit_compile, args.latency_n)
                   for beam_size in beam_sizes for jit_compile in jits]
        for result in results:
            print(result, flush=True)
        bc.emit(dict(script="decode_throughput", run=args.run,
                     framework=f"tensorflow {tf.__version__} keras {keras.__version__}",
                     results=results))
        return
    wl = bc.load_workload()
    batches = wl["test"][: args.batches]
    singles = [row[: int((row != bc.PAD).sum())][None, :]
               for row in wl["test"][0][: args.latency_n]]
    model = Transformer.from_preset("seed", src_vocab_size=bc.SRC_VOCAB,
                                    tgt_vocab_size=bc.TGT_VOCAB, max_length=bc.MAX_POS)
    model((batches[0][:2], batches[0][:2, :3]))  # build the weights
    paths = args.paths.split(",")
    results = []
    for beam_size in beam_sizes:
        for jit_compile in jits:
            if "model" in paths:
                results.append(run_variant(model, batches, singles, beam_size, jit_compile))
                print(results[-1], flush=True)
            if "saved_model" in paths:
                sentences = bc.read_lines("test_2016_flickr.de.gz")
                sentence_batches = [sentences[i: i + bc.DECODE_BATCH] for i in
                                    range(0, len(sentences), bc.DECODE_BATCH)][: args.batches]
                results.append(run_saved_model(model, bench_tokenizers(), sentence_batches,
                                               beam_size, jit_compile, args.latency_n))
                print(results[-1], flush=True)
    bc.emit(dict(script="decode_throughput",
                 framework=f"tensorflow {tf.__version__} keras {keras.__version__}",
                 params=int(model.count_params()), results=results))


if __name__ == "__main__":
    main()
