import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.training.losses import MaskedCrossEntropy, token_cross_entropy


def numpy_smoothed_ce(labels, logits, smoothing):
    """Reference: explicit target distribution, masked mean over non-pad tokens."""
    vocab = logits.shape[-1]
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    target = np.full(logits.shape, smoothing / vocab)
    np.put_along_axis(target, labels[..., None], 1.0 - smoothing + smoothing / vocab, -1)
    per_token = -(target * log_probs).sum(-1)
    mask = labels != 0
    return per_token[mask].sum() / mask.sum()


def batch(seed=0, vocab=11):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(3, 5, vocab)).astype("float32") * 3
    labels = rng.integers(1, vocab, size=(3, 5)).astype("int32")
    labels[0, 3:] = 0
    labels[2, 1:] = 0
    return labels, logits


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_loss_matches_numpy_reference(smoothing):
    labels, logits = batch()
    loss = MaskedCrossEntropy(label_smoothing=smoothing)(labels, logits)
    np.testing.assert_allclose(
        float(loss), numpy_smoothed_ce(labels, logits.astype("float64"), smoothing), rtol=1e-6
    )


def test_unsmoothed_loss_equals_keras_sparse_cross_entropy_on_real_tokens():
    labels, logits = batch(1)
    mask = labels != 0
    expected = tf.keras.losses.sparse_categorical_crossentropy(
        labels[mask], logits[mask], from_logits=True
    )
    np.testing.assert_allclose(
        float(MaskedCrossEntropy()(labels, logits)), float(tf.reduce_mean(expected)), rtol=1e-6
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_gradient_matches_reference_and_padding_gets_zero(smoothing):
    labels, logits = batch(2)
    logits = tf.constant(logits)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        loss = MaskedCrossEntropy(label_smoothing=smoothing)(labels, logits)
        log_probs = tf.nn.log_softmax(logits)
        target = tf.one_hot(labels, 11) * (1 - smoothing) + smoothing / 11
        mask = tf.cast(labels != 0, tf.float32)
        reference = tf.reduce_sum(-tf.reduce_sum(target * log_probs, -1) * mask) / tf.reduce_sum(mask)
    grad = tape.gradient(loss, logits).numpy()
    np.testing.assert_allclose(grad, tape.gradient(reference, logits).numpy(), atol=1e-7)
    assert np.all(grad[labels == 0] == 0.0)
    assert np.abs(grad[labels != 0]).sum() > 0


def test_bfloat16_logits_are_scored_in_float32():
    labels, logits = batch(3)
    loss = MaskedCrossEntropy(label_smoothing=0.1)(labels, tf.cast(logits, tf.bfloat16))
    assert loss.dtype == tf.float32
    rounded = tf.cast(tf.cast(logits, tf.bfloat16), tf.float32).numpy().astype("float64")
    np.testing.assert_allclose(float(loss), numpy_smoothed_ce(labels, rounded, 0.1), rtol=1e-6)


def test_all_padding_gives_zero_not_nan():
    labels = np.zeros((2, 3), "int32")
    logits = np.ones((2, 3, 5), "float32")
    assert float(MaskedCrossEntropy()(labels, logits)) == 0.0


def test_per_token_loss_of_a_certain_prediction_is_zero():
    labels = np.array([[1, 2]], "int32")
    logits = np.where(np.eye(4)[labels] > 0, 50.0, -50.0).astype("float32")
    np.testing.assert_allclose(token_cross_entropy(labels, logits).numpy(), 0.0, atol=1e-6)


def test_bad_smoothing_and_sample_weight_are_rejected():
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        MaskedCrossEntropy(label_smoothing=1.0)
    labels, logits = batch()
    with pytest.raises(ValueError, match="sample_weight"):
        MaskedCrossEntropy()(labels, logits, sample_weight=np.ones(3))


def test_config_round_trip():
    loss = MaskedCrossEntropy(label_smoothing=0.1)
    again = MaskedCrossEntropy.from_config(loss.get_config())
    assert again.label_smoothing == 0.1 and again.name == loss.name
