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
