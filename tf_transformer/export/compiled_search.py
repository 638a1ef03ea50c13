"""The servable's id-to-id search compiled with XLA (`jit_compile=True`), on bucketed shapes.

XLA compiles a function once per input shape, and a server sees every batch size and
source width. So the sources are first padded to a few shape buckets, in graph mode:
the batch to the next power of two (the first rows repeated, then dropped again), the
width to the next multiple of 8 up to 64 and to the next power of two beyond (PAD
columns, which every attention masks), capped at the model's positions. A signature
then compiles at most 10 widths per batch bucket, each once for the server's lifetime;
the fine steps at the common short widths keep the encoder's extra work small. Padding
never changes a row's result; the row limits come from the real (non-PAD) source
lengths.

Only this search is compiled: tokenization and detokenization are string ops, which
have no XLA kernels, and stay in the graph around it.

In the SavedModel the compiled function is an ordinary function call whose function
carries `_XlaMustCompile=true`; TF Serving runs it only with
`--xla_cpu_compilation_enabled` and otherwise answers "XLA compilation disabled".
"""
import tensorflow as tf

from tf_transformer.decoding.generate import translate_ids
from tf_transformer.decoding.search import SearchResult
from tf_transformer.special_tokens import PAD_ID

WIDTH_STEP, FINE_WIDTHS_UP_TO = 8, 64


def bucket(size):
    """The smallest power of two >= `size` (scalar int32 tensor); 0 stays 0."""
    powers = tf.bitwise.left_shift(1, tf.range(31))
    return tf.where(size > 0, tf.reduce_min(tf.where(powers >= size, powers, powers[-1])), 0)


def width_bucket(width, cap):
    """`width` (>= 1) rounded up to a multiple of WIDTH_STEP up to FINE_WIDTHS_UP_TO, to a
    power of two beyond; at most `cap`."""
    fine = (width + WIDTH_STEP - 1) // WIDTH_STEP * WIDTH_STEP
    return tf.minimum(tf.where(width <= FINE_WIDTHS_UP_TO, fine, bucket(width)), cap)


def compiled_translate_ids(model, source_ids, **search_options) -> SearchResult:
    """`translate_ids(model, source_ids, **search_options)`, compiled with XLA.

    Args:
      model: a built `Transformer`.
      source_ids: (B, S) int32 with BOS/EOS, PAD padded; S <= `model.config.max_length`.
      **search_options: `beam_size`, `alpha`, `max_length_ratio`, `max_length_offset`.

    Returns:
      `translate_ids`'s `SearchResult` for the B rows (its buffer T follows the padded
      width, so it can be longer; the extra columns are PAD).
    """
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    batch, width = tf.shape(source_ids)[0], tf.shape(source_ids)[1]
    rows = tf.range(bucket(batch)) % tf.maximum(batch, 1)
    padded_width = width_bucket(tf.maximum(width, 1), model.config.max_length)
    padded = tf.pad(tf.gather(source_ids, rows), [[0, 0], [0, padded_width - width]],
                    constant_values=PAD_ID)

    @tf.function(jit_compile=True)
    def search(padded_ids):
        return translate_ids(model, padded_ids, **search_options)

    return tf.nest.map_structure(lambda x: x[:batch], search(padded))
