"""What the encoder sees: source strings made into ids, in the graph.

`Translator` and the SavedModel's signatures (`export.serving`) both call
`prepare_sources`, so a sentence gets the same ids, the same truncation and the same
empty translation in Python as from TF Serving:
- invalid UTF-8 bytes become U+FFFD (the replacement character) instead of failing
  the whole batch;
- each source is tokenized to [BOS] subwords [EOS]; one longer than the model's
  `max_length` positions keeps [BOS], its first `max_length - 2` subwords and [EOS];
- a blank input (only separators, control and format characters: `text.BLANK_PATTERN`)
  is marked, and its translation is empty;
- inputs must have rank 1: a rank-2 batch fails with InvalidArgument naming
  "inputs_must_be_a_vector_of_strings" (a server feeds the graph without checking
  shapes).
"""

from typing import NamedTuple

import tensorflow as tf

from tf_transformer.text import BLANK_PATTERN


class Sources(NamedTuple):
    """A prepared batch (B: batch, S: source tokens)."""

    ids: tf.RaggedTensor  # (B, None) int32: [BOS] subwords [EOS], at most max_length
    lengths: tf.Tensor  # (B,) int64: tokens before truncation (> max_length: truncated)
    blank: tf.Tensor  # (B,) bool: the input shows nothing; its translation is empty


def prepare_sources(inputs, tokenizer, max_length: int) -> Sources:
    """`Sources` of `inputs` (B,) string, tokenized by `tokenizer` (a `Tokenizer`) and cut
    to `max_length` tokens (the model's source positions)."""
    inputs = tf.ensure_shape(inputs, [None], name="inputs_must_be_a_vector_of_strings")
    text = tf.strings.unicode_transcode(
        inputs, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    ids = tokenizer.tokenize(text)
    content = ids[:, 1:-1][:, :max_length - 2]
    return Sources(ids=tf.concat([ids[:, :1], content, ids[:, -1:]], axis=1),
                   lengths=ids.row_lengths(),
                   blank=tf.strings.regex_full_match(text, BLANK_PATTERN))
