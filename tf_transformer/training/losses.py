"""Masked (label-smoothed) cross-entropy over target tokens.

Notation: B batch, T target length, V target vocabulary. Labels are int ids with
`PAD_ID` (0) marking padding; logits are `(B, T, V)` and always handled in
float32, also under mixed precision. Packed tokens (the train step of
`packed_step.py`) come as labels `(N,)` and logits `(N, V)`; everything here takes
labels of any shape with logits of that shape plus V.
"""

import keras
import tensorflow as tf

from tf_transformer.special_tokens import PAD_ID


def token_cross_entropy(labels, logits, label_smoothing=0.0):
    """Per-token cross-entropy against a label-smoothed target distribution.

    The target puts `1 - label_smoothing` on the gold token and spreads
    `label_smoothing` uniformly over all V tokens (the convention of
    `keras.losses.CategoricalCrossentropy` and PyTorch's `CrossEntropyLoss`), so
    the loss is `logsumexp(z) - (1 - ε) z_gold - ε mean(z)`.

    Args:
        labels: int `(B, T)` (or `(N,)`), gold ids.
        logits: `(B, T, V)` (or `(N, V)`), cast to float32.
        label_smoothing: float ε in [0, 1).

    Returns:
        float32, shaped like `labels`: the loss of every position (padding included; see
        `masked_sums`).
    """
    return _token_cross_entropy(
        tf.cast(labels, tf.int32), tf.cast(logits, tf.float32), float(label_smoothing)
    )


def gold_logits(labels, logits):
    """The logit of each gold id: labels `(...)`, logits `(..., V)` -> `(...)`."""
    rows = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
    gold = tf.gather(rows, tf.reshape(tf.cast(labels, tf.int32), [-1, 1]), batch_dims=1)
    return tf.reshape(gold, tf.shape(labels))


# XLA fuses the passes over the (B, T, V) logits, forward and backward, into a
# few loops: 2.4x faster than TensorFlow's separate kernels on a 2-core CPU (40
# vs 97 ms for 128 x 28 x 6000 logits). It compiles once per batch shape; the
# rest of the train step stays on oneDNN kernels unless `jit_compile` is set.
@tf.function(jit_compile=True, reduce_retracing=True)
def _token_cross_entropy(labels, logits, label_smoothing):
    loss = tf.reduce_logsumexp(logits, axis=-1) - (1.0 - label_smoothing) * gold_logits(
        labels, logits)
    if label_smoothing:
        loss -= label_smoothing * tf.reduce_mean(logits, axis=-1)
    return loss


def masked_sums(labels, values):
    """Sum of `values (B, T)` over non-pad positions and the number of them.

    Returns:
        `(sum, count)`, float32 scalars.
    """
    mask = tf.cast(tf.not_equal(labels, PAD_ID), tf.float32)
    return tf.reduce_sum(tf.cast(values, tf.float32) * mask), tf.reduce_sum(mask)


def _sum_over_replicas(value):
    """Sums `value` over the replicas of a `tf.distribute` strategy (if any)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


@keras.saving.register_keras_serializable(package="tf_transformer")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy averaged over the non-pad target tokens of the batch.

    With `label_smoothing=0` this is the seed's loss (PyTorch
    `CrossEntropyLoss(ignore_index=0)`). Under a `tf.distribute` strategy the
    token count is summed over replicas, so that N replicas compute exactly the
    gradient one device computes on the same global batch (Keras sums the
    replicas' gradients), even when replicas hold different numbers of tokens.

    Args:
        label_smoothing: float in [0, 1); see `token_cross_entropy`.
        name: loss name.

    Call arguments:
        y_true: int `(B, T)` target ids, 0 = pad (or `(N,)` packed).
        y_pred: `(B, T, V)` logits (or `(N, V)` packed).

    Returns:
        float32 scalar.

    Example:
    >>> loss = MaskedCrossEntropy(label_smoothing=0.1)
    >>> model.compile(optimizer="adam", loss=loss)
    """

    def __init__(self, label_smoothing=0.0, name="masked_cross_entropy", **kwargs):
        # Keras' own reduction (and its division by the replica count) is not
        # used: __call__ normalises by the global token count itself.
        super().__init__(name=name, reduction="sum", **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"label_smoothing must be in [0, 1), got label_smoothing={label_smoothing}."
            )
        self.label_smoothing = float(label_smoothing)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "MaskedCrossEntropy weights tokens by their padding mask; "
                "sample_weight is not supported."
            )
        with tf.name_scope(self.name):
            losses = token_cross_entropy(y_true, y_pred, self.label_smoothing)
            total, count = masked_sums(y_true, losses)
            return tf.math.divide_no_nan(total, _sum_over_replicas(count))

    def get_config(self):
        return {"name": self.name, "label_smoothing": self.label_smoothing}
