"""tf_transformer: a Keras 3 / TensorFlow Transformer for neural machine translation."""

__version__ = "0.1.0"
__all__ = ["PRESETS", "Transformer", "TransformerConfig", "__version__"]


def __getattr__(name):
    # Lazy, so that `tf-transformer --help` and `--version` do not start TensorFlow.
    if name in ("PRESETS", "Transformer", "TransformerConfig"):
        from tf_transformer import model

        return getattr(model, name)
    raise AttributeError(f"module 'tf_transformer' has no attribute {name!r}")
