"""nn.Linear's default initialization, for the layers that keep it in PyTorch's seed.

Keras's `Dense` starts from a Glorot-uniform kernel and a zero bias. PyTorch's
`nn.Linear` draws both from U(±1/√fan_in); `nn.Transformer` then redraws its
matrices (Xavier uniform, which is Glorot), so its biases and the seed's separate
output layer keep nn.Linear's draws (docs/parity.md). `linear_init="pytorch"` on
`FeedForward` and `Transformer` asks for those.
"""

import keras


def fan_in_uniform(fan_in):
    """U(±1/√fan_in): nn.Linear's bias, and its kernel (kaiming_uniform, a=√5)."""
    bound = fan_in**-0.5
    return keras.initializers.RandomUniform(-bound, bound)


def dense_initializers(linear_init, fan_in, kernel=True):
    """`keras.layers.Dense` keyword arguments for `linear_init`.

    "keras": none, so Keras's defaults. No initializer is made: each one draws a Keras
    seed when made, which would shift the draws of every default model.
    "pytorch": nn.Linear's U(±1/√fan_in) bias, and kernel if `kernel`.
    """
    if linear_init != "pytorch":
        return {}
    init = {"kernel_initializer": fan_in_uniform(fan_in)} if kernel else {}
    init["bias_initializer"] = fan_in_uniform(fan_in)  # made second, as before
    return init
