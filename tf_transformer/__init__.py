"""tf_transformer: a Keras 3 / TensorFlow Transformer for neural machine translation."""

from tf_transformer.model import PRESETS, Transformer, TransformerConfig

__version__ = "0.1.0"
__all__ = ["PRESETS", "Transformer", "TransformerConfig"]
