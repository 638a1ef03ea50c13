"""Data: corpora (Multi30k, files, TFDS), in-graph SentencePiece tokenizers, tf.data pipelines.

Importing this package registers the TFDS builder `multi30k` (configs "de-en", "en-de").
`prepare.open_corpus` opens the corpus a run config names (docs/own_data.md).
"""

from tf_transformer.data.multi30k import Multi30k, multi30k_dir
from tf_transformer.data.pipeline import make_dataset, tokenize_pairs
from tf_transformer.data.prepare import load_split, load_tokenizers, prepared_builder
from tf_transformer.data.tokenizer import Tokenizer, build_tokenizer, round_trip_failures

__all__ = [
    "Multi30k",
    "Tokenizer",
    "build_tokenizer",
    "load_split",
    "load_tokenizers",
    "make_dataset",
    "multi30k_dir",
    "prepared_builder",
    "round_trip_failures",
    "tokenize_pairs",
]
