"""Trains a tiny model for a few steps, alone or under tf.distribute; prints the losses.

Run as a subprocess by distribute_test.py (logical devices and TF_CONFIG must be set
before TensorFlow starts):

    python distributed_run.py local         # one device, then MirroredStrategy over 2 logical CPUs
    python distributed_run.py multi_worker FOLDER  # one MultiWorkerMirroredStrategy
                                                   # worker (TF_CONFIG): trains, then
                                                   # reads its shard of the training data

Prints one JSON line {mode: {"replicas": int, "losses": [...], "checksum": float}}:
the loss of every step (global batches of 8 pairs with uneven padding, dropout 0, the
seed's Adam, the same initial weights) and the sum of |weights| after training; a
worker adds "shards": {"seen": [...], "corpus": [...]}: the source sentences of the
batches this worker gets in one epoch of `tf-transformer train`'s training dataset,
and all the training sources. (One pair of worker processes does both: starting a
cluster costs more than either.)
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

STEPS, GLOBAL_BATCH, VOCAB = 3, 8, 50


def batches():
    """Global batches whose rows have different numbers of real tokens."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(STEPS):
        source = rng.integers(4, VOCAB, (GLOBAL_BATCH, 9)).astype("int32")
        target = rng.integers(4, VOCAB, (GLOBAL_BATCH, 8)).astype("int32")
        for row in range(GLOBAL_BATCH):
            source[row, rng.integers(2, 9):] = 0
            target[row, rng.integers(1, 8):] = 0
        out.append(((source, target), np.roll(target, -1, axis=1)))
    return out


def train(strategy):
    from tf_transformer.training.config import from_dict
    from tf_transformer.training.trainer import build_training_model, compile_model

    config = from_dict({"model": {"preset": "tiny", "dropout": 0.0, "num_encoder_layers": 1,
                                  "num_decoder_layers": 1}, "data": {"max_length": 64}})
    data = batches()
    with strategy.scope():
        model = build_training_model(config, VOCAB, VOCAB)
        rng = np.random.default_rng(1)
        model.set_weights([rng.normal(0, 0.1, w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        compile_model(model, config)
    losses = [float(model.train_on_batch(x, y)[0]) for x, y in data]
    return {"replicas": strategy.num_replicas_in_sync, "losses": losses,
            "checksum": float(sum(np.abs(w).sum() for w in model.get_weights()))}


def shard(strategy, folder):
    from tests import synthetic
    from tf_transformer.training.config import from_dict
    from tf_transformer.training.distribute import worker_index
    from tf_transformer.training.trainer import _datasets

    rows = [(f"{i} {source}", target) for i, (source, target) in
            enumerate(synthetic.pairs(300, seed=5))]  # numbered: every source is unique
    corpus = os.path.join(folder, f"train{worker_index()}.tsv")
    synthetic.write_tsv(corpus, rows)
    config = from_dict({"data": {
        "source": "files", "source_language": "sx", "target_language": "tx", "vocab_size": 320,
        "splits": {"train": corpus, "validation": corpus}, "max_tokens": 256}})
    _, _, (source_tokenizer, _), make_train, _ = _datasets(
        config, os.path.join(folder, f"run{worker_index()}"))
    seen = []
    for batch in strategy.experimental_distribute_dataset(make_train()):
        for (source, _), _ in strategy.experimental_local_results(batch):
            seen += [s.decode("utf-8") for s in source_tokenizer.detokenize(source).numpy()]
    return {"seen": seen, "corpus": [source for source, _ in rows]}


def main(mode):
    if mode == "local":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tf_transformer.training.distribute import make_strategy

    if mode == "local":
        results = {"single": train(make_strategy("default")),
                   "mirrored": train(make_strategy("mirrored", ["/cpu:0", "/cpu:1"]))}
    else:
        strategy = make_strategy(mode)
        results = {mode: train(strategy), "shards": shard(strategy, sys.argv[2])}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
