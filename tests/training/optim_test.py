import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.training.config import OptimizerConfig
from tf_transformer.training.optim import InverseSqrtSchedule, make_optimizer


def test_schedule_is_noam_with_explicit_peak():
    d_model, warmup = 512, 4000
    peak = d_model ** -0.5 * warmup ** -0.5
    schedule = InverseSqrtSchedule(peak, warmup)
    for step in (1, 100, 3999, 4000, 10000, 100000):
        noam = d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
        # Keras passes the 0-based iteration count.
        np.testing.assert_allclose(float(schedule(step - 1)), noam, rtol=1e-6)
    assert math.isclose(float(schedule(warmup - 1)), peak, rel_tol=1e-6)


def test_schedule_counts_updates_when_accumulating():
    schedule = InverseSqrtSchedule(1e-3, 10, accumulation_steps=4)
    assert float(schedule(0)) == float(schedule(3)) == pytest.approx(1e-4)
    assert float(schedule(4)) == pytest.approx(2e-4)


def test_default_optimizer_is_the_seed_adam():
    optimizer = make_optimizer(OptimizerConfig())
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert not isinstance(optimizer, keras.optimizers.AdamW)
    config = optimizer.get_config()
    assert (config["beta_1"], config["beta_2"], config["epsilon"]) == (0.9, 0.98, 1e-9)
    assert float(optimizer.learning_rate) == pytest.approx(5e-4)
    assert config["global_clipnorm"] is None and config["gradient_accumulation_steps"] is None


def test_clipping_accumulation_and_weight_decay_options():
    optimizer = make_optimizer(OptimizerConfig(
        name="adamw", weight_decay=0.01, clip_global_norm=1.0, schedule="inverse_sqrt",
        warmup_steps=10, gradient_accumulation_steps=2))
    config = optimizer.get_config()
    assert isinstance(optimizer, keras.optimizers.AdamW) and config["weight_decay"] == 0.01
    assert config["global_clipnorm"] == 1.0 and config["gradient_accumulation_steps"] == 2
    assert isinstance(optimizer._learning_rate, InverseSqrtSchedule)


def test_adamw_decays_kernels_but_not_biases_norms_or_embeddings():
    model = keras.Sequential([
        keras.Input((3,), dtype="int32"), keras.layers.Embedding(5, 4),
        keras.layers.LayerNormalization(), keras.layers.Dense(2)])
    optimizer = make_optimizer(OptimizerConfig(name="adamw", weight_decay=0.1))
    optimizer.build(model.trainable_variables)
    decayed = {v.name for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed == {"kernel"}


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_update_equals_keras_update(name):
    # Our optimizers update each variable with TensorFlow's ResourceApplyAdam;
    # Keras's own Adam/AdamW (same config) is the reference, sparse (embedding)
    # gradients and a schedule included.
    config = OptimizerConfig(name=name, weight_decay=0.1 if name == "adamw" else 0.0,
                             schedule="inverse_sqrt", warmup_steps=2, learning_rate=1e-2)
    ours = make_optimizer(config)
    keras_class = keras.optimizers.AdamW if name == "adamw" else keras.optimizers.Adam
    reference = keras_class.from_config(ours.get_config())
    rng = np.random.default_rng(0)
    initial = [rng.normal(size=(4, 3)), rng.normal(size=(3,)), rng.normal(size=(6, 2))]
    names = ["kernel", "bias", "embeddings"]
    variables = {opt: [keras.Variable(v.astype("float32"), name=n) for v, n in zip(initial, names)]
                 for opt in (ours, reference)}
    for opt, variable_list in variables.items():
        if name == "adamw":
            opt.exclude_from_weight_decay(var_names=["bias", "embeddings"])
        opt.build(variable_list)
    for step in range(5):
        dense = [rng.normal(size=v.shape).astype("float32") for v in initial[:2]]
        rows = tf.IndexedSlices(tf.constant(rng.normal(size=(2, 2)), tf.float32),
                                tf.constant([step % 6, 5]), tf.constant([6, 2]))
        for opt, variable_list in variables.items():
            opt.apply([tf.constant(g) for g in dense] + [rows], variable_list)
    for a, b, start in zip(variables[ours], variables[reference], initial):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        assert not np.allclose(np.asarray(a), start)


def test_cosine_schedule_warms_up_then_ends_at_zero_with_the_run():
    # Written out: linear warm-up over 10 batches x 2 accumulated = 20 Keras
    # iterations, then half a cosine over the remaining 80 of 100 batches.
    config = OptimizerConfig(schedule="cosine", learning_rate=1e-3, warmup_steps=10,
                             gradient_accumulation_steps=2)
    schedule = make_optimizer(config, total_batches=100)._learning_rate
    for step in (0, 5, 20, 40, 60, 99, 100, 150):
        if step <= 20:
            expected = 1e-3 * step / 20
        else:
            expected = 1e-3 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - 20) / 80)))
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5, atol=1e-9)


def test_cosine_schedule_needs_the_length_of_the_run():
    config = OptimizerConfig(schedule="cosine", warmup_steps=100)
    for total in (None, 100):
        with pytest.raises(ValueError, match="raise training.epochs"):
            make_optimizer(config, total_batches=total)
