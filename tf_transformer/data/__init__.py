"""Multi30k data: TFDS builder, in-graph SentencePiece tokenizers, tf.data pipelines.

Importing this package registers the TFDS builder `multi30k` (configs "de-en", "en-de").
"""

from tf_transformer.data.multi30k import Multi30k, multi30k_dir

__all__ = ["Multi30k", "multi30k_dir"]
