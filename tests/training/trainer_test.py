import csv
import math
import os
import signal
import subprocess
import sys
import types

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.data.fixtures import FIXTURE_VOCAB_SIZE, PAIRS
from tf_transformer.artifacts import build_model
from tf_transformer.data.pipeline import make_dataset
from tf_transformer.data.tokenizer import build_tokenizer
from tf_transformer.training import config as run_config
from tf_transformer.training.config import ConfigError, from_dict
from tf_transformer.training.losses import MaskedCrossEntropy
from tf_transformer.training.trainer import build_training_model, compile_model, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_training_model_removes_padding_unless_xla_and_returns_padded_logits():
    src = np.array([[5, 6, 7, 3], [8, 9, 3, 0]], np.int32)
    tgt = np.array([[2, 5, 6], [2, 7, 0]], np.int32)
    for jit, remove, expected in [(False, True, True), (True, True, False),
                                  (False, False, False)]:
        config = from_dict({"model": {"preset": "tiny"},
                            "training": {"jit_compile": jit, "remove_padding": remove}})
        model = build_training_model(config, 50, 40)
        assert model.config.remove_padding is expected
        assert model.get_config()["remove_padding"] is expected  # saved with the model
        assert tuple(model((src, tgt), training=True).shape) == (2, 3, 40)


def test_packed_train_step_gives_the_padded_loss_metrics_and_update():
    # The train step packs logits and labels (remove_padding); loss, metrics and
    # the weights after one update match the padded train step.
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, size=6)
    target = np.where(np.arange(9) < lengths[:, None], rng.integers(4, 40, (6, 9)), 0)
    target[np.arange(6), lengths - 1] = 3  # EOS
    inputs = (rng.integers(4, 50, (6, 7)).astype("int32"),
              np.concatenate([np.full((6, 1), 2), target[:, :-1]], 1).astype("int32"))
    results, weights, initial = [], [], None
    for remove in (False, True):
        # One layer a side: the packing of logits and labels is the train step's own.
        config = from_dict({"model": {"preset": "tiny", "dropout": 0.0, "num_encoder_layers": 1,
                                      "num_decoder_layers": 1},
                            "training": {"label_smoothing": 0.1, "remove_padding": remove}})
        model = build_training_model(config, 50, 40)
        model(inputs)
        initial = initial or model.get_weights()
        model.set_weights(initial)
        compile_model(model, config)
        slots = len(model.optimizer.variables)
        results.append(model.train_on_batch(inputs, target, return_dict=True))
        weights.append(model.get_weights())
        # compile_model created them: variables created inside the first train step
        # make TensorFlow trace it a second time.
        assert slots == len(model.optimizer.variables) > 2 * len(model.trainable_variables)
    assert set(results[0]) == {"loss", "accuracy", "perplexity"}
    for key in results[0]:
        np.testing.assert_allclose(results[1][key], results[0][key], rtol=1e-5, err_msg=key)
    assert results[0]["perplexity"] > 1
    for after_padded, after_packed in zip(*weights):
        np.testing.assert_allclose(after_packed, after_padded, atol=1e-6)


def test_bfloat16_train_step_matches_float32():
    # One batch, the same weights: loss and gradients of the mixed_bfloat16
    # model against float32. bfloat16 keeps 8 significant bits (relative
    # rounding 2^-8 = 0.4 %): 1 % on the loss. Gradients: oneDNN's bf16 kernels on
    # AMX CPUs leave up to 18 % of a variable's gradient norm between the two
    # (cosine 0.984 at worst; the AVX-512-bf16 CPU without AMX stayed within 5 %
    # of the norm plus 1 % of the largest gradient's), so each
    # gradient must point the same way (cosine >= 0.97) with the same size
    # (within 10 %). The key biases' true gradient is 0 (the softmax ignores a
    # constant added to every score): theirs must stay below 1 % of the largest.
    source = np.array([[5, 6, 7, 3], [8, 9, 3, 0]], np.int32)
    target_in = np.array([[2, 5, 6], [2, 7, 0]], np.int32)
    target_out = np.array([[5, 6, 3], [7, 3, 0]], np.int32)
    loss_fn = MaskedCrossEntropy(label_smoothing=0.1)
    config = from_dict({"model": {"preset": "tiny", "dropout": 0.0}})
    results, weights = {}, None
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = build_training_model(config, 50, 40)
            model((source, target_in))
        finally:
            keras.mixed_precision.set_global_policy("float32")
        weights = weights or model.get_weights()
        model.set_weights(weights)
        with tf.GradientTape() as tape:
            logits = model((source, target_in), training=True)
            loss = loss_fn(target_out, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        results[policy] = (logits.dtype, float(loss),
                           [tf.convert_to_tensor(g).numpy().astype("float32") for g in grads])
    (_, loss32, grads32), (dtype16, loss16, grads16) = results.values()
    assert dtype16 == tf.float32  # logits in float32 under mixed precision
    assert loss16 == pytest.approx(loss32, rel=1e-2)
    assert len(grads16) == len(grads32) > 0
    largest = max(np.linalg.norm(g) for g in grads32)
    for g16, g32 in zip(grads16, grads32):
        norm16, norm32 = np.linalg.norm(g16), np.linalg.norm(g32)
        if norm32 < 1e-2 * largest:
            assert np.linalg.norm(g16 - g32) <= 1e-2 * largest
            continue
        assert np.vdot(g16, g32) / (norm16 * norm32) >= 0.97
        assert norm16 == pytest.approx(norm32, rel=0.1)


def test_training_batches_are_right_padded(tmp_path):
    # Padding removal and the decoder's causal-only mask assume right-padded
    # targets: a real token never follows a pad. Check the batches training sees.
    de, en = (build_tokenizer([pair[i] for pair in PAIRS[:40]], str(tmp_path / f"{i}.model"),
                              FIXTURE_VOCAB_SIZE) for i in range(2))
    pairs = tf.data.Dataset.from_tensor_slices(tuple(map(list, zip(*PAIRS[:40]))))
    batches = list(make_dataset(pairs, de, en, batch_size=16, shuffle=True, seed=1))
    assert len(batches) > 1
    for (source, target_in), target_out in batches:
        for ids in (source, target_in, target_out):
            real = ids.numpy() != 0
            assert real[:, 0].all()  # BOS or a token first
            assert not (~real[:, :-1] & real[:, 1:]).any()  # no real token after a pad


@pytest.fixture(scope="module")
def finished_run(tiny_config, tmp_path_factory):
    """namespace(config, run, history): a run trained without interruption, 2 epochs of
    5 batches, a backup every 2 batches, the average of both epochs as final weights,
    a cosine schedule (its position is part of what a resumed run must restore)."""
    config = tiny_config(training={"epochs": 2, "label_smoothing": 0.1},
                         optimizer={"schedule": "cosine", "warmup_steps": 2},
                         callbacks={"average_last": 2, "final_weights": "average",
                                    "backup_every_steps": 2})
    run = tmp_path_factory.mktemp("finished") / "run"
    return types.SimpleNamespace(config=config, run=run,
                                 history=train(config, str(run), verbose=0))


# Same seed, same training: the SIGKILL test below checks it bit for bit (a killed run
# and its rerun, two fresh processes, end with finished_run's weights).
@pytest.mark.slow
def test_run_directory_records_the_run_and_averages_the_last_epochs(finished_run):
    config, run, first = finished_run.config, finished_run.run, finished_run.history
    for name in ("config.yaml", "vocab/de.cased.400.model", "vocab/en.cased.400.model",
                 "model.weights.h5", "checkpoints/best.weights.h5",
                 "checkpoints/best.weights.h5.json", "checkpoints/epoch-001.weights.h5",
                 "checkpoints/epoch-002.weights.h5", "backup/latest", "training_log.csv"):
        assert (run / name).exists(), name
    assert run_config.load(str(run / "config.yaml")) == config
    assert os.listdir(run / "logs" / "train") and os.listdir(run / "logs" / "validation")
    with open(run / "training_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert float(rows[1]["loss"]) == pytest.approx(first.history["loss"][1], rel=1e-6)
    # The cosine schedule spans the run (10 batches, 2 of warm-up): zero at its end.
    assert float(rows[0]["learning_rate"]) == pytest.approx(
        5e-4 * 0.5 * (1 + math.cos(math.pi * 3 / 8)))
    assert float(rows[1]["learning_rate"]) == pytest.approx(0.0, abs=1e-12)
    # The final weights are the average of the two epoch checkpoints.
    model = build_model(config.model, FIXTURE_VOCAB_SIZE, FIXTURE_VOCAB_SIZE)
    epochs = []
    for name in ("epoch-001", "epoch-002"):
        model.load_weights(run / "checkpoints" / f"{name}.weights.h5")
        epochs.append(model.get_weights())
    model.load_weights(run / "model.weights.h5")
    for averaged, one, two in zip(model.get_weights(), *epochs):
        np.testing.assert_allclose(averaged, (one + two) / 2, rtol=1e-6, atol=1e-7)
    # Finished: running again trains nothing and keeps the result.
    assert train(config, str(run), verbose=0) is None


def test_a_changed_config_is_refused_in_an_existing_run(tiny_config, tmp_path):
    run_config.dump(tiny_config(), str(tmp_path / "config.yaml"))
    with pytest.raises(ConfigError, match="training.seed: 1234 -> 7"):
        train(tiny_config(training={"seed": 7}), str(tmp_path), verbose=0)


# `tf-transformer train` with a kill point: SIGKILL while the epoch-end backup of epoch 1
# (after batch 5) writes its state file, leaving a torn 96-byte file behind.
_KILLED_TRAIN = """
import os, signal, sys
import keras
from tf_transformer import cli

save_weights = keras.Model.save_weights

def save_weights_or_die(self, path, *args, **kwargs):
    if "state-000000005" in path:
        with open(path, "wb") as f:
            f.write(bytes(96))
        os.kill(os.getpid(), signal.SIGKILL)
    return save_weights(self, path, *args, **kwargs)

keras.Model.save_weights = save_weights_or_die
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigkill_in_the_epoch_end_backup_then_rerun_finishes_as_if_never_killed(
        finished_run, tmp_path):
    # finished_run's config, killed by a kill point in the epoch-end backup of epoch 1: the
    # rerun resumes mid-epoch from the last complete backup (batch 4), redoes the end of
    # epoch 1, trains epoch 2, and the result is finished_run's. (A kill at every point of
    # a backup is checked in-process by callbacks_test.)
    config, epochs, steps = finished_run.config, 2, 5
    config_path, run = str(tmp_path / "run.yaml"), tmp_path / "run"
    run_config.dump(config, config_path)
    arguments = ["train", "--config", config_path, "--run-dir", str(run), "--verbose", "2"]
    command = [sys.executable, "-m", "tf_transformer.cli", *arguments]
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    killed = subprocess.run([sys.executable, "-c", _KILLED_TRAIN, *arguments], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-3000:] + killed.stderr[-3000:]
    assert sorted(os.listdir(run / "backup"))[-2:] == ["latest", "state-000000004"]

    resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "after 4 batches: epoch 1, batch 4 of 5" in resumed.stdout
    assert "Epoch 1/2" in resumed.stdout and "Epoch 2/2" in resumed.stdout
    assert sorted(os.listdir(run / "backup")) == ["latest", "state-000000010"]
    # The optimizer state came back too: its step counter went on from the backup.
    with h5py.File(run / "backup" / "state-000000010" / "state.weights.h5") as state:
        assert int(state["optimizer"]["vars"]["0"][()]) == epochs * steps
    with open(run / "training_log.csv") as f:
        logged = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert sorted(set(logged)) == list(range(epochs))

    model = build_model(config.model, FIXTURE_VOCAB_SIZE, FIXTURE_VOCAB_SIZE)
    finals = []
    for folder in (run, finished_run.run):
        model.load_weights(folder / "model.weights.h5")
        finals.append(model.get_weights())
    for resumed_weights, uninterrupted in zip(*finals):
        np.testing.assert_array_equal(resumed_weights, uninterrupted)
