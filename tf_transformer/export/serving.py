"""The servable: a `tf.Module` whose tf.functions turn source strings into translations.

Every function runs tokenize -> encode -> cached greedy or beam search (a
`tf.while_loop` inside the graph) -> detokenize, so the SavedModel takes and returns
raw text and needs only TensorFlow and TF Text ops (TF Serving >= 2.20 links both).

Signatures (B: batch, any size including 0; S: source tokens):

    serving_default   {"inputs": string (B,)} -> {"translations": string (B,),
                                                  "scores": float32 (B,)}   beam search
    translate_greedy  same inputs and outputs, greedy search
    tokenize          {"inputs": string (B,)} -> {"ids": int32 (B, S), "tokens": string
                      (B, S), "lengths": int32 (B,)}: what the encoder sees, for debugging

Scores are the best hypothesis' log-probability divided by the GNMT length penalty
`((5 + length) / 6) ** alpha` (higher is better).

Inputs are prepared the same way in every signature, and as `Translator` prepares
them (`decoding.sources.prepare_sources`):
- invalid UTF-8 bytes become U+FFFD (the replacement character) instead of failing
  the whole batch, so one bad row never costs the others their translations;
- inputs longer than the model's positions are truncated: `[BOS]` + the first
  `max_length - 2` subwords + `[EOS]`;
- an empty or blank input (only spaces of any kind, NBSP and U+3000 included, control
  and invisible format characters: `tf_transformer.text`) gets an empty translation
  with score 0;
- an empty batch gives empty outputs;
- inputs must have rank 1 (a batch of strings): a rank-2 request fails with
  InvalidArgument ("inputs_must_be_a_vector_of_strings ... not compatible with expected
  shape [?]").

Memory: a request is decoded in chunks of rows of at most `MAX_CHUNK_POSITIONS` beams x
rows x padded source tokens, longest rows first, so its caches stay bounded however many rows it has
(sources are truncated to the model's positions anyway); results are those of
one-by-one translation.
"""

import tensorflow as tf

from tf_transformer.artifacts import keyed_weights
from tf_transformer.decoding.generate import translate_ids
from tf_transformer.decoding.sources import prepare_sources
from tf_transformer.export.compiled_search import compiled_translate_ids
from tf_transformer.special_tokens import PAD_ID

SIGNATURE_KEYS = ("serving_default", "translate_greedy", "tokenize")
_INPUT_SPEC = tf.TensorSpec([None], tf.string, name="inputs")
# Beams x rows x padded source tokens per decoding pass
# (`TranslationModule.max_chunk_positions`): the caches of a pass hold beams x rows x
# (source + output buffer) positions. Beam 4: the usual batch (64 sentences of up to 64
# tokens) in one pass, or 16 rows of 256 positions; greedy: four times that. With 4096,
# beam 4 split every batch of the benchmark in two passes of all the steps, each padded to
# a power of two rows under XLA: the `--xla` export took about 1.2x as long
# (docs/serving.md, "Where the SavedModel spends its time"). 512 rows with
# one 20k-character row, beam 4, seed model: peak 2.16 GB, 1.24 GB of it the loaded model
# (4096: 1.75 GB with 1.39 GB loaded; one pass: 11.2 GB); benchmarks/serving_memory.py.
MAX_CHUNK_POSITIONS = 16384


class TranslationModule(tf.Module):
    """A `Transformer` and its tokenizers as a servable with batched string signatures.

    Args:
      model: a built `Transformer`, or an `Ensemble` of them (`tf_transformer.ensemble`).
      source_tokenizer, target_tokenizer: `tf_transformer.data.tokenizer.Tokenizer`s
        (their SentencePiece models become SavedModel assets).
      beam_size: K of `serving_default`; 1 makes it greedy.
      alpha: length-penalty exponent of both translate signatures.
      max_length_ratio, max_length_offset: each row generates at most
        `ceil(ratio * source tokens) + offset` tokens (see `translate_ids`).
      max_chunk_positions: beams x rows x padded source tokens decoded at once; a larger
        request is split into chunks (see `_search_in_chunks`), which bounds its memory.
      assets: extra files copied into the SavedModel's `assets/` (e.g. the run config).
      jit_compile: run both translate signatures' search under XLA (see
        `compiled_search`); TF Serving then needs `--xla_cpu_compilation_enabled`.

    Example:
      >>> module = TranslationModule(model, de_tokenizer, en_tokenizer, beam_size=4)
      >>> module.translate(tf.constant(["Ein Mann fährt Fahrrad."]))["translations"]
      >>> tf.saved_model.save(module, path, signatures=module.signatures())
    """

    def __init__(self, model, source_tokenizer, target_tokenizer, beam_size: int = 4,
                 alpha: float = 0.6, max_length_ratio: float = 1.5,
                 max_length_offset: int = 10, max_chunk_positions: int = MAX_CHUNK_POSITIONS,
                 assets=(), jit_compile: bool = False, name=None):
        super().__init__(name=name)
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}.")
        self._set_untracked_model(model)
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.beam_size = beam_size
        self.alpha = alpha
        self.max_length_ratio = max_length_ratio
        self.max_length_offset = max_length_offset
        self.max_chunk_positions = max_chunk_positions
        self.assets = [tf.saved_model.Asset(path) for path in assets]
        self.jit_compile = jit_compile

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _set_untracked_model(self, model):
        # Saved through the variables its functions read instead; see `signatures`.
        self.model = model

    def signatures(self) -> dict:
        """Concrete functions by signature key, for `tf.saved_model.save`.

        Also tracks the tf.Variables they read. Tracking the Keras model instead would
        save each Keras 3 variable as a copy that the signatures do not read: Python's
        `tf.saved_model.load` copes, but TF Serving restores the checkpoint into the
        graph's copies and then fails with "Could not find variable" (keras-team/keras
        issues 19274 and 20095; Keras' own ExportArchive tracks the variables the same way).
        """
        functions = (self.translate, self.translate_greedy, self.tokenize)
        concrete = {key: function.get_concrete_function()
                    for key, function in zip(SIGNATURE_KEYS, functions)}
        used = {id(v): v for function in concrete.values() for v in function.variables}
        # Keyed by Keras variable path, so that `load_export` can give the weights back
        # to a Keras model.
        self.model_variables = {key: v.value for key, v in keyed_weights(self.model).items()
                                if id(v.value) in used}
        unnamed = used.keys() - {id(v) for v in self.model_variables.values()}
        if unnamed:
            raise ValueError(f"The signatures read {len(unnamed)} variables that are not the "
                             "model's; only the model may own variables.")
        return concrete

    def _sources(self, inputs):
        return prepare_sources(inputs, self.source_tokenizer, self.model.config.max_length)

    def _translate(self, inputs, beam_size: int):
        sources = self._sources(inputs)
        translations, scores = self._search_in_chunks(sources.ids, beam_size)
        # Else a blank source would get whatever the model says after [BOS] [EOS].
        return {"translations": tf.where(sources.blank, "", translations),
                "scores": tf.where(sources.blank, 0.0, scores)}

    def _search_in_chunks(self, source_ids, beam_size: int):
        """Best translations (B,) and scores (B,) of the RaggedTensor `source_ids`.

        The rows are decoded longest first, in chunks of at most `max_chunk_positions`
        beams x rows x padded source tokens (at least one row each): the caches of a
        search grow with beams x rows x tokens, so one huge request runs as several
        bounded ones. Rows do not affect each other (padding masks), so chunks change no
        result.
        """
        lengths = source_ids.row_lengths()
        order = tf.argsort(lengths, direction="DESCENDING", stable=True)
        rows, lengths = tf.gather(source_ids, order), tf.gather(lengths, order)
        count = tf.shape(lengths, out_type=tf.int64)[0]
        search = compiled_translate_ids if self.jit_compile else translate_ids

        def chunk(index, start, translations, scores):
            size = tf.clip_by_value(self.max_chunk_positions // (beam_size * lengths[start]), 1,
                                    count - start)
            result = search(
                self.model, rows[start:start + size].to_tensor(PAD_ID), beam_size=beam_size,
                alpha=self.alpha, max_length_ratio=self.max_length_ratio,
                max_length_offset=self.max_length_offset)
            return (index + 1, start + size,
                    translations.write(index, self.target_tokenizer.detokenize(result.ids[:, 0])),
                    scores.write(index, result.scores[:, 0]))

        parts = [tf.TensorArray(dtype, size=0, dynamic_size=True, infer_shape=False,
                                element_shape=[None]) for dtype in (tf.string, tf.float32)]
        _, _, translations, scores = tf.while_loop(
            lambda index, start, *_: start < count, chunk,
            (tf.constant(0), tf.constant(0, tf.int64), *parts))
        back = tf.math.invert_permutation(order)
        return tf.gather(translations.concat(), back), tf.gather(scores.concat(), back)

    @tf.function(input_signature=[_INPUT_SPEC])
    def translate(self, inputs):
        """Beam search (greedy when beam_size is 1): {"translations", "scores"} (B,)."""
        return self._translate(inputs, self.beam_size)

    @tf.function(input_signature=[_INPUT_SPEC])
    def translate_greedy(self, inputs):
        """Greedy search: {"translations", "scores"} (B,)."""
        return self._translate(inputs, 1)

    @tf.function(input_signature=[_INPUT_SPEC])
    def tokenize(self, inputs):
        """The encoder's input: {"ids" (B, S), "tokens" (B, S), "lengths" (B,)}; PAD -> ""."""
        source_ids = self._sources(inputs).ids
        ids = source_ids.to_tensor(PAD_ID)
        tokens = self.source_tokenizer.id_to_token(ids)
        return {"ids": ids, "tokens": tf.where(ids == PAD_ID, "", tokens),
                "lengths": tf.cast(source_ids.row_lengths(), tf.int32)}
