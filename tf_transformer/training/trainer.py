"""Builds, compiles and fits a `Transformer` from a run config.

`train(config, run_dir)` is what `tf-transformer train` runs; `build_model` and
`compile_model` are the pieces benchmarks and tests reuse.
"""

import keras

from tf_transformer.model import Transformer
from tf_transformer.training.config import ModelConfig, RunConfig
from tf_transformer.training.losses import MaskedCrossEntropy
from tf_transformer.training.metrics import MaskedAccuracy, Perplexity
from tf_transformer.training.optim import make_optimizer


def build_model(config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Transformer:
    """The preset of `config` with its non-null fields as overrides (unbuilt)."""
    return Transformer.from_preset(
        config.preset, src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
        **config.overrides(),
    )


def compile_model(model: keras.Model, config: RunConfig) -> None:
    """Compiles `model` with the loss, metrics, optimizer and XLA setting of `config`.

    Under `mixed_float16` Keras wraps the optimizer in a `LossScaleOptimizer`.
    """
    model.compile(
        optimizer=make_optimizer(config.optimizer),
        loss=MaskedCrossEntropy(config.training.label_smoothing),
        metrics=[MaskedAccuracy(), Perplexity()],
        jit_compile=config.training.jit_compile,
    )
