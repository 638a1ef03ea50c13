"""Strings in, strings out: a trained `Transformer` with its two tokenizers.

Notation: B batch, K beam size, L layers, H heads, S source tokens, T target tokens.

Behaviour at the edges (also what `tf-transformer translate` does):
- sources are prepared in the graph exactly as the SavedModel prepares them
  (`decoding.sources`): invalid UTF-8 replaced, tokenized, truncated, blanks marked;
- an empty or blank input (only spaces, NBSP, U+3000, controls...: `text.BLANK_PATTERN`)
  gives an empty translation (the model is not run);
- an input longer than the model's `config.max_length` source positions is cut to its
  first `max_length - 1` tokens plus EOS, with a logged warning naming the first such
  input by its 1-based line number;
- each output has at most `ceil(max_length_ratio * source tokens) + max_length_offset`
  tokens (capped at `config.max_length`);
- a batch gives the same results as its sentences one by one: sentences are sorted by
  length into batches and decoded with padding masks, and no row affects another.

Example:
  >>> translator = Translator.from_export("saved_models/multi30k_de_en/1")
  >>> translator.translate(["Ein Mann fährt Fahrrad."])  # beam 4, alpha 1.0: as served
  ['A man is riding a bike.']
"""
import dataclasses
import logging

import numpy as np
import tensorflow as tf

from tf_transformer import artifacts
from tf_transformer.decoding.generate import translate_ids
from tf_transformer.decoding.run import search_options
from tf_transformer.decoding.sources import prepare_sources
from tf_transformer.special_tokens import BOS_ID, PAD_ID

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Translation:
    """One sentence's result from `Translator.translate_detailed`."""

    text: str  # best hypothesis, detokenized
    score: float  # its log-probability / length_penalty(length, alpha)
    nbest: list  # [(text, score)] for the K hypotheses, best first
    source_tokens: list  # source subwords fed to the model, "[START]" ... "[END]"
    target_tokens: list  # generated subwords of the best hypothesis (EOS as "[END]")
    truncated: bool  # the source was cut to the model's positions
    # With `with_attention=True`: cross-attention (L, H, T, S), row t the step that
    # generated target_tokens[t]; encoder self-attention (L, H, S, S). Else None.
    cross_attention: np.ndarray = None
    encoder_attention: np.ndarray = None


class Translator:
    """Translates lists of strings with cached greedy or beam search.

    Args:
      model: a built `Transformer`, or an `Ensemble` of them.
      source_tokenizer, target_tokenizer: `tf_transformer.data.Tokenizer`s (anything
        with `tokenize`, `detokenize` and `id_to_token`).
      max_length_ratio, max_length_offset: output-length limit relative to the source.
      jit_compile: XLA-compile the search (tokenization stays outside XLA). Each new
        padded source width compiles once; widths are rounded up to a multiple of 8.
      use_cache: False re-runs the whole decoder at every step instead of using the KV
        cache: much slower, only to check that both give the same translations.
      beam_size, alpha: the search `translate` runs when not given one; `from_run_dir`
        and `from_export` take them from the run config's `decoding` section (for an
        export: the search its `serving_default` signature runs).
    """

    def __init__(self, model, source_tokenizer, target_tokenizer,
                 max_length_ratio: float = 1.5, max_length_offset: int = 10,
                 jit_compile: bool = False, use_cache: bool = True, beam_size: int = 1,
                 alpha: float = 0.6):
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_length_ratio = max_length_ratio
        self.max_length_offset = max_length_offset
        self.jit_compile = jit_compile
        self.use_cache = use_cache
        self.beam_size, self.alpha = beam_size, alpha
        self._searches = {}
        self._attention = tf.function(self._attention_weights, reduce_retracing=True)
        self._prepare = tf.function(
            lambda inputs: prepare_sources(inputs, source_tokenizer, model.config.max_length),
            input_signature=[tf.TensorSpec([None], tf.string)])

    @classmethod
    def from_run_dir(cls, run_dir: str, weights: str | None = None, **kwargs) -> "Translator":
        """The model and tokenizers of a training run (see `tf_transformer.artifacts`);
        `kwargs` go to the constructor."""
        return cls(*artifacts.load_run(run_dir, weights),
                   **_search_defaults(artifacts.load_run_config(run_dir), kwargs))

    @classmethod
    def from_run_dirs(cls, run_dirs, ensemble_mode: str | None = None, weights=None,
                      **kwargs) -> "Translator":
        """An ensemble (`tf_transformer.ensemble`) of training runs, each with its final
        weights or with `weights` (one file or None per run, e.g. epoch checkpoints),
        combined and searching as the first run's `decoding` section says unless
        `ensemble_mode` and `kwargs` say otherwise."""
        return cls(*artifacts.load_ensemble(list(run_dirs), ensemble_mode, weights),
                   **_search_defaults(artifacts.load_run_config(run_dirs[0]), kwargs))

    @classmethod
    def from_export(cls, export_dir: str, **kwargs) -> "Translator":
        """The model and tokenizers of an exported version, e.g.
        "saved_models/multi30k_de_en/1" (see `tf_transformer.artifacts`), searching
        as its `serving_default` signature unless `kwargs` say otherwise."""
        return cls(*artifacts.load_export(export_dir),
                   **_search_defaults(artifacts.load_export_config(export_dir), kwargs))

    def translate(self, sentences, beam_size: int | None = None, alpha: float | None = None,
                  batch_size: int = 64) -> list:
        """Translations of `sentences` (a list of str), in order; see the module doc.
        `beam_size` and `alpha` default to the translator's."""
        return [t.text for t in self.translate_detailed(sentences, beam_size, alpha, batch_size)]

    def translate_detailed(self, sentences, beam_size: int | None = None,
                           alpha: float | None = None, batch_size: int = 64,
                           with_attention: bool = False) -> list:
        """`Translation`s of `sentences`: text, score, n-best, tokens, attention weights."""
        beam_size = self.beam_size if beam_size is None else beam_size
        alpha = self.alpha if alpha is None else alpha
        sentences = list(sentences)
        results = [_empty_translation() for _ in sentences]
        if not sentences:
            return results
        sources = self._prepare(tf.constant(sentences, tf.string))
        rows = [i for i, blank in enumerate(sources.blank.numpy()) if not blank]
        if not rows:
            return results
        ids = [np.asarray(row, np.int32) for row in sources.ids.numpy()[rows]]
        truncated = self._truncated(sources.lengths.numpy()[rows], rows)
        # Longest first: similar lengths share a batch, and XLA compiles the widest first.
        order = sorted(range(len(rows)), key=lambda i: -len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = self._translate_batch([ids[i] for i in chunk], beam_size, alpha,
                                          with_attention)
            for i, translation in zip(chunk, batch):
                translation.truncated = truncated[i]
                results[rows[i]] = translation
        return results

    def _truncated(self, lengths, positions):
        """Whether each source (of `lengths` tokens) was cut to the model's positions;
        logs a warning naming the first by its line (`positions`: indices in the input)."""
        limit = self.model.config.max_length
        truncated = [int(length) > limit for length in lengths]
        if any(truncated):
            first = truncated.index(True)
            logger.warning(
                "%d input(s) longer than the model's %d source positions were truncated "
                "to %d tokens (first: line %d, %d tokens).", sum(truncated), limit, limit,
                positions[first] + 1, lengths[first])
        return truncated

    def _search(self, beam_size, alpha):
        key = (beam_size, alpha)
        if key not in self._searches:
            def search(source_ids):
                return translate_ids(self.model, source_ids, beam_size, alpha,
                                     self.max_length_ratio, self.max_length_offset,
                                     self.use_cache)
            self._searches[key] = tf.function(
                search, jit_compile=self.jit_compile,
                input_signature=[tf.TensorSpec([None, None], tf.int32)])
        return self._searches[key]

    def _translate_batch(self, ids, beam_size, alpha, with_attention):
        width = max(len(row) for row in ids)
        if self.jit_compile:
            width = -(-width // 8) * 8
        source = np.full((len(ids), width), PAD_ID, np.int32)
        for i, row in enumerate(ids):
            source[i, :len(row)] = row
        result = self._search(beam_size, alpha)(source)
        ids_out = result.ids.numpy()  # (B, K, T)
        lengths, scores = result.lengths.numpy(), result.scores.numpy()
        k = ids_out.shape[1]
        texts = self.target_tokenizer.detokenize(ids_out.reshape(-1, ids_out.shape[-1]))
        texts = [t.decode("utf-8") for t in texts.numpy()]
        best = [row[0, :n[0]] for row, n in zip(ids_out, lengths)]
        source_pieces = _pieces(self.source_tokenizer, source, [len(row) for row in ids])
        target_pieces = _pieces(self.target_tokenizer, ids_out[:, 0], lengths[:, 0])
        if with_attention:
            cross, encoder = self._best_attention(source, best)
        translations = []
        for i, row in enumerate(ids):
            translation = Translation(
                text=texts[i * k], score=float(scores[i, 0]),
                nbest=[(texts[i * k + j], float(scores[i, j])) for j in range(k)],
                source_tokens=source_pieces[i], target_tokens=target_pieces[i],
                truncated=False)
            if with_attention:
                translation.cross_attention = cross[:, i, :, :len(best[i]), :len(row)]
                translation.encoder_attention = encoder[:, i, :, :len(row), :len(row)]
            translations.append(translation)
        return translations

    def _best_attention(self, source, best):
        """Teacher-forces the best hypotheses to read their attention weights."""
        length = max(max(len(b) for b in best), 1)
        target_input = np.full((len(best), length), PAD_ID, np.int32)
        for i, hypothesis in enumerate(best):
            target_input[i, :len(hypothesis)] = np.concatenate([[BOS_ID], hypothesis[:-1]])
        cross, encoder = self._attention(tf.constant(source), tf.constant(target_input))
        return cross.numpy(), encoder.numpy()

    def _attention_weights(self, source_ids, target_input_ids):
        memory, encoder_weights = self.model.encode(source_ids, training=False)
        _, _, cross_weights = self.model.decode(target_input_ids, memory, source_ids,
                                                training=False)
        return tf.stack(cross_weights), tf.stack(encoder_weights)  # (L, B, H, T|S, S)


def _search_defaults(config, kwargs: dict) -> dict:
    """`kwargs` with the config's `decoding.beam_size` and `alpha` where not given."""
    beam_size, alpha = search_options(config, kwargs.pop("beam_size", None),
                                      kwargs.pop("alpha", None))
    return {**kwargs, "beam_size": beam_size, "alpha": alpha}


def _pieces(tokenizer, ids, lengths):
    """Subword strings of each row of `ids` (B, T), cut to `lengths`."""
    pieces = tokenizer.id_to_token(tf.constant(ids, tf.int32)).numpy()
    return [[p.decode("utf-8") for p in row[:n]] for row, n in zip(pieces, lengths)]


def _empty_translation():
    return Translation(text="", score=0.0, nbest=[("", 0.0)], source_tokens=[],
                       target_tokens=[], truncated=False)
