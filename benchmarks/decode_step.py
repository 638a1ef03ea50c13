"""One cached decoding step in graph mode: its op count and its time per call.

`decode_throughput.py` times whole searches, where the run-to-run spread of this noisy
2-core machine (±8 % in beam 4) hides a few per cent. This times only
`Transformer.decode_step`, the part of decoding the model code owns, on the
bench-size model (seed sizes, the anchors' vocabularies, random weights): B sentences
of 20 source tokens, K beams (K = 1: greedy), a cache of 40 positions, step 10.
Reports the ops of the traced step (fewer ops, less per-step overhead at small
batches) and the min/median over 5 rounds of milliseconds per call.

Usage (from the repository root; compare two checkouts interleaved in one session):
  .venv/bin/python benchmarks/decode_step.py [--batch 64] [--beams 4]
Threads as in the other benchmarks (BENCH_THREADS, BENCH_INTEROP). Prints one JSON line.
"""
import argparse
import statistics
import time

import bench_env  # noqa: F401  (paths and environment; first)
import bench_common as bc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_transformer.model import Transformer  # noqa: E402

SOURCE_LENGTH, CACHE_LENGTH, INDEX = 20, 40, 10


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64, help="sentences B")
    parser.add_argument("--beams", type=int, default=4, help="beams K (1: greedy)")
    parser.add_argument("--calls", type=int, default=None,
                        help="calls per round (default: about 4 s of work)")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(bc.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(bc.INTEROP)

    model = Transformer.from_preset("seed", src_vocab_size=bc.SRC_VOCAB,
                                    tgt_vocab_size=bc.TGT_VOCAB, max_length=bc.MAX_POS)
    rng = np.random.default_rng(0)
    source = rng.integers(4, bc.SRC_VOCAB, (args.batch, SOURCE_LENGTH)).astype("int32")
    model((source, source[:, :3] % bc.TGT_VOCAB))  # build the weights
    memory, _ = model.encode(source)
    cache = model.init_cache(memory, source, CACHE_LENGTH, beam_size=args.beams)
    tokens = tf.constant(rng.integers(4, bc.TGT_VOCAB, (args.batch * args.beams, 1)).astype("int32"))
    index = tf.constant(INDEX)
    step = tf.function(model.decode_step)
    ops = len(step.get_concrete_function(tokens, cache, index).graph.get_operations())

    for _ in range(5):  # warm-up: kernel set-up on first calls
        step(tokens, cache, index)[0].numpy()
    calls = args.calls or (40 if args.batch * args.beams > 32 else 300)
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            logits, _ = step(tokens, cache, index)
        logits.numpy()
        rounds.append((time.perf_counter() - start) / calls * 1e3)
    bc.emit({
        "script": "decode_step", "batch": args.batch, "beams": args.beams,
        "graph_ops": ops, "ms_per_step_min": round(min(rounds), 2),
        "ms_per_step_median": round(statistics.median(rounds), 2), "calls": calls,
    })


if __name__ == "__main__":
    main()
