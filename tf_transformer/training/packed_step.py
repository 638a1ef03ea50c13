"""The train step without padding: loss, gradients and metrics from the real tokens only.

`Transformer(config)` with `config.remove_padding` runs its position-wise layers
on the real tokens and unpacks the logits to `(B, T, V)` for every caller. Only
the train step keeps them packed, `(N, V)`: the loss and metrics then read N
rows of V logits rather than B·T (about half on Multi30k batches), and no
gradient flows through an unpacking of the logits.
"""

import keras
import tensorflow as tf

from tf_transformer.model import Transformer


@keras.saving.register_keras_serializable(package="tf_transformer")
class TrainingTransformer(Transformer):
    """A `Transformer` whose train step (TensorFlow) packs the logits and labels.

    Same config, weights and `call` as `Transformer`; without
    `config.remove_padding` its train step is Keras's.
    """

    def train_step(self, data):
        if not self.config.remove_padding:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        # As Keras's TensorFlow train step, with packed logits and labels.
        with tf.GradientTape() as tape:
            logits, packing = self.packed_logits(x, training=True)
            labels = packing.select(y)
            loss = self.compute_loss(x, labels, logits, sample_weight, training=True)
            tracked, replicas = loss, tf.distribute.get_strategy().num_replicas_in_sync
            if replicas > 1:  # undo the division by the replica count, as Keras does
                tracked = loss * replicas
            self._loss_tracker.update_state(tracked, sample_weight=tf.shape(x[0])[0])
            loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self.compute_metrics(x, labels, logits, sample_weight=sample_weight)
