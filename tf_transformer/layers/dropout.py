"""Dropout that draws 16 random bits per element instead of a float.

The seed model has 62 dropout sites per training step; with Keras's dropout
the random draws alone were 15 % of a bfloat16 training step on CPU (Philox
makes one 32-bit word per element, then a float from it). Two 16-bit draws
per word halve that, and comparing them with an integer threshold keeps the
rate exact to 2⁻¹⁶, in float32 and bfloat16 alike (a bfloat16 uniform has 7
random bits: Keras's rate 0.1 dropped 10.2 % there). The backward pass is one
multiply by the saved mask.
"""

import keras
from keras import ops

_BITS = 16


@keras.saving.register_keras_serializable(package="tf_transformer")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (same arguments and config) drawing 16 random
    bits per element.

    Each element is kept when its draw is at least `round(rate · 2¹⁶)`, and
    kept elements are scaled by `2¹⁶ / (2¹⁶ - threshold)` (≈ `1 / (1 - rate)`),
    rounded to the input's dtype as in Keras.

    Shapes: `(..., D)` -> `(..., D)`.

    Example:
    >>> layer = Dropout(0.5, seed=1)
    >>> y = layer(ops.ones((2, 4)), training=True)   # zeros and 2.0s
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is not None:
            return super().call(inputs, training=training)
        threshold = round(self.rate * 2**_BITS)
        scale = ops.cast(2**_BITS / (2**_BITS - threshold), inputs.dtype)
        keep = random_bits(ops.shape(inputs), self.seed_generator) >= threshold
        mask = ops.where(keep, scale, ops.zeros((), inputs.dtype))

        @ops.custom_gradient
        def apply(x):
            def grad(*args, upstream=None):
                return (args[0] if upstream is None else upstream) * mask

            return x * mask, grad

        return apply(inputs)


def random_bits(shape, seed_generator):
    """Uniform integers in `[0, 2¹⁶)` of `shape`, drawn from `seed_generator`.

    On TensorFlow each Philox word gives two of them (a bitcast); other
    backends draw them with `keras.random.randint`.
    """
    if keras.backend.backend() != "tensorflow":
        return keras.random.randint(shape, 0, 2**_BITS, dtype="int32", seed=seed_generator)
    import tensorflow as tf  # the fast path needs a bitcast, which keras.ops lacks

    seed = seed_generator.next()
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")  # as Keras's TF backend
    shape = tf.convert_to_tensor(shape, "int32") if not tf.is_tensor(shape) else shape
    last = shape[-1]
    words = tf.random.stateless_uniform(
        tf.concat([shape[:-1], [(last + 1) // 2]], 0), seed,
        minval=None, maxval=None, dtype=tf.uint32,
    )
    halves = tf.reshape(tf.bitcast(words, tf.uint16), tf.concat([shape[:-1], [-1]], 0))
    return halves[..., :last]
