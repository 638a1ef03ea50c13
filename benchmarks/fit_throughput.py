"""`model.fit` throughput of the seed preset on synthetic batches, on any Keras backend.

Needs only Keras and a backend (TensorFlow or JAX): no dataset, no TensorFlow-only
training code (the loss is Keras' sparse cross-entropy ignoring padding, the
optimizer Keras' Adam). `make gpu-check` runs it where TensorFlow is missing but JAX
is there. Prints one JSON line per run:

    KERAS_BACKEND=jax python benchmarks/fit_throughput.py --policy mixed_float16 --seconds 60
"""

import argparse
import json
import time

import keras
import numpy as np

from tf_transformer.model import Transformer
from tf_transformer.special_tokens import PAD_ID

VOCAB = 8000


class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def synthetic_batches(steps, batch_size, length, seed=1234):
    """Ids of Multi30k-like pairs: lengths from length/2 to length, padded to `length`."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(length // 2, length + 1, size=(2, steps * batch_size))
    ids = rng.integers(4, VOCAB, size=(2, steps * batch_size, length + 1), dtype=np.int32)
    positions = np.arange(length + 1)
    ids[positions >= lengths[..., None]] = PAD_ID
    return ids[0][:, :length], ids[1]


def run(policy, jit_compile, seconds, batch_size, length):
    keras.utils.set_random_seed(1234)
    keras.mixed_precision.set_global_policy(policy)
    model = Transformer.from_preset("seed", src_vocab_size=VOCAB, tgt_vocab_size=VOCAB)
    model.compile(
        optimizer=keras.optimizers.Adam(5e-4, beta_1=0.9, beta_2=0.98, epsilon=1e-9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID),
        jit_compile=jit_compile)
    source, target = synthetic_batches(8, batch_size, length)
    times = StepTimes()
    # One epoch of 8 batches compiles and warms up; then epochs until `seconds` pass.
    model.fit((source, target[:, :-1]), target[:, 1:], batch_size=batch_size, epochs=1,
              verbose=0)
    start = time.perf_counter()
    epochs = 0
    while time.perf_counter() - start < seconds:
        model.fit((source, target[:, :-1]), target[:, 1:], batch_size=batch_size, epochs=1,
                  verbose=0, callbacks=[times])
        epochs += 1
    step_s = float(np.median(times.times))
    target_tokens = float(np.mean(np.sum(target[:, 1:] != PAD_ID, axis=1))) * batch_size
    keras.mixed_precision.set_global_policy("float32")
    return dict(script="fit_throughput", backend=keras.backend.backend(), policy=policy,
                jit_compile=jit_compile, batch_size=batch_size, length=length,
                steps=len(times.times), median_step_s=round(step_s, 4),
                tgt_tok_per_s=round(target_tokens / step_s),
                params=int(model.count_params()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append",
                        help="Keras dtype policy, repeatable (default: float32 and "
                             "mixed_float16)")
    parser.add_argument("--jit", choices=["off", "on", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=45,
                        help="timed seconds per run (after the compile/warm-up epoch)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--length", type=int, default=32, help="tokens per padded sentence")
    args = parser.parse_args(argv)
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    for policy in args.policy or ["float32", "mixed_float16"]:
        for jit_compile in jits:
            print(json.dumps(run(policy, jit_compile, args.seconds, args.batch_size,
                                 args.length)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
