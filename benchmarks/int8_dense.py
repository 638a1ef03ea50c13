"""Keras's dynamic int8 `Dense` against float32 on a decoding step's shapes.

CTranslate2's fastest CPU mode multiplies int8 weights by activations quantized on the
fly. Keras has the same scheme built in (`Dense.quantize("int8")`: int8 kernels with a
scale per output, each token's activations scaled by its absolute maximum, an
int8 × int8 → int32 product), made of ops TF Serving links. This times the three
widths a decoding step multiplies by (attention projections D, feed-forward, output
vocabulary) for B rows of one position, in graph mode and under XLA, and reports the
largest error of the int8 output relative to the largest float32 output.

Usage (from the repository root, nothing else running):
  .venv/bin/python benchmarks/int8_dense.py [--batch 64] [--calls 100] [--rounds 4]
Threads as in the other benchmarks (BENCH_THREADS, BENCH_INTEROP). Prints one JSON line
per width and mode.
"""
import argparse
import time

import bench_env  # noqa: F401  (paths and environment; first)
import bench_common as bc  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_transformer.architecture import PRESETS  # noqa: E402


def _ms_per_call(function, x, calls):
    """Milliseconds per call of `calls` calls (the function already traced and compiled)."""
    start = time.perf_counter()
    for _ in range(calls):
        y = function(x)
    y.numpy()
    return (time.perf_counter() - start) / calls * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64, help="rows B (sentences x beams)")
    parser.add_argument("--calls", type=int, default=100, help="calls per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per variant")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(bc.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(bc.INTEROP)

    seed = PRESETS["seed"]
    d_model = seed["d_model"]
    x = tf.random.normal((args.batch, 1, d_model), seed=0)
    for width in (d_model, seed["ff_dim"], bc.TGT_VOCAB):
        plain = keras.layers.Dense(width)
        plain.build((None, 1, d_model))
        quantized = keras.layers.Dense(width)
        quantized.build((None, 1, d_model))
        quantized.set_weights(plain.get_weights())
        quantized.quantize("int8")
        for jit_compile in (False, True):
            plain_fn = tf.function(plain, jit_compile=jit_compile)
            quantized_fn = tf.function(quantized, jit_compile=jit_compile)
            # These first calls also trace and compile both functions.
            expected = plain_fn(x).numpy()
            error = np.abs(quantized_fn(x).numpy() - expected).max() / np.abs(expected).max()
            # Rounds interleaved (float32, int8, float32, ...); the min of each.
            times = {"float32": [], "int8": []}
            for _ in range(args.rounds):
                times["float32"].append(_ms_per_call(plain_fn, x, args.calls))
                times["int8"].append(_ms_per_call(quantized_fn, x, args.calls))
            bc.emit({
                "script": "int8_dense", "batch": args.batch, "in": d_model, "out": width,
                "mode": "xla" if jit_compile else "graph",
                "float32_ms": round(min(times["float32"]), 3),
                "int8_ms": round(min(times["int8"]), 3),
                "int8_relative_error": round(float(error), 4),
            })


if __name__ == "__main__":
    main()
