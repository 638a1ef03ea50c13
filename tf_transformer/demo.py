"""`make demo`: what the project can do so far, in under a minute on a CPU."""

import time

import numpy as np


def main():
    from tf_transformer import Transformer

    model = Transformer.from_preset("seed", src_vocab_size=8000, tgt_vocab_size=6000)
    rng = np.random.default_rng(0)
    source = rng.integers(4, 8000, (4, 12)).astype("int32")
    target = rng.integers(4, 6000, (4, 10)).astype("int32")
    start = time.perf_counter()
    logits = model((source, target), training=False)
    print(f"seed Transformer: {model.count_params():,} parameters; "
          f"logits {tuple(logits.shape)} in {time.perf_counter() - start:.2f} s")

    memory, encoder_attention = model.encode(source)
    cache = model.init_cache(memory, source, max_length=target.shape[1])
    worst = 0.0
    for i in range(target.shape[1]):
        step, cache = model.decode_step(target[:, i : i + 1], cache, i)
        worst = max(worst, float(np.abs(np.asarray(step) - np.asarray(logits)[:, i]).max()))
    print(f"cached incremental decoding == full decoder pass: max |diff| {worst:.1e}")
    print(f"encoder self-attention: {len(encoder_attention)} layers of "
          f"{tuple(encoder_attention[0].shape)} weights")


if __name__ == "__main__":
    main()
