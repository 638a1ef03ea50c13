"""In-graph subword tokenizers: SentencePiece BPE models run by tensorflow-text.

Why SentencePiece: it keeps whitespace as part of the pieces ("▁"), so detokenizing
gives back the sentence as typed ("A man, in a hat.", not "A man , in a hat ."), and
its ops (`SentencepieceOp`, `SentencepieceTokenizeOp`, `SentencepieceDetokenizeOp`,
`SentencepieceIdToStringOp`) are in tensorflow-text's `ops_lib`, which TF Serving links
into its model server (TF Serving's own `tf_text_regression` test model runs them).
Lowercasing uses core TF's `StringLower`.

How the models are trained (`train_sentencepiece`):
- BPE: deterministic (same corpus -> byte-identical model), ~0.2 s on Multi30k;
- byte fallback: a character never seen in training becomes its UTF-8 bytes instead of
  [UNK], so every string round-trips exactly;
- identity normalization (no NFKC): text is kept as typed; runs of spaces and
  leading/trailing spaces are squeezed, the only change a round trip makes;
- ids 0-3 are the special tokens of `tf_transformer.special_tokens`;
- `vocab_size` is a maximum: a corpus with fewer distinct pieces gives a smaller one.

Example:

```python
tokenizer = build_tokenizer(english_sentences, "vocab/en.cased.8000.model")
ids = tokenizer.tokenize(tf.constant(["A man, in a hat."]))  # [[2, ..., 3]]
tokenizer.detokenize(ids)  # [b"A man, in a hat."]
tf.saved_model.save(tokenizer, "saved_tokenizer")  # reloads with only tensorflow_text
```
"""

import hashlib
import io
import logging
import os
from collections.abc import Iterable, Sequence

import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text

from tf_transformer import atomic
from tf_transformer.special_tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

logger = logging.getLogger(__name__)

DEFAULT_VOCAB_SIZE = 8000


class Tokenizer(tf.Module):
    """Tokenizer for one language, built from a SentencePiece model file.

    Args:
        model_path: str, a SentencePiece model trained by `train_sentencepiece`. It is
            kept as a SavedModel asset (`model_file`); the ops embed its bytes too.
        lowercase: bool, lowercase the input before tokenizing (default False: cased).
            Must match how the model was trained.
        name: str, optional module name.

    Attributes:
        vocab_size: int, number of ids, special tokens included.
        lowercase: bool, as given.

    Call arguments and shapes (B: batch, T: tokens):
        tokenize(strings (B,) string) -> RaggedTensor (B, None) int32, [BOS] ids [EOS].
        detokenize(ids (B, T) int32/int64, dense or ragged) -> (B,) string. Drops PAD
            and BOS and stops at the first EOS.
        id_to_token(ids int32, any shape) -> strings of the same shape, e.g. "▁man".
    """

    def __init__(self, model_path: str, lowercase: bool = False, name: str | None = None):
        super().__init__(name=name)
        self.lowercase = lowercase
        self.model_file = tf.saved_model.Asset(model_path)
        with open(model_path, "rb") as f:
            self._model = f.read()
        # A name unique to the model: a SavedModel holding two tokenizers otherwise
        # reloads (tf.saved_model.load) with both running whichever model loads first.
        self._op_name = f"sentencepiece_{hashlib.sha256(self._model).hexdigest()[:16]}"
        processor = sentencepiece.SentencePieceProcessor(model_proto=self._model)
        self.vocab_size = processor.vocab_size()
        specials = tuple(processor.id_to_piece(i) for i in range(len(SPECIAL_TOKENS)))
        if specials != SPECIAL_TOKENS:
            raise ValueError(
                f"{model_path} does not start with the special tokens {SPECIAL_TOKENS} "
                f"(found {specials}); train it with train_sentencepiece."
            )
        # Trace once per accepted input type so a SavedModel of this module has them all.
        for ids_spec in (
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None], tf.int64),
            tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1),
            tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1),
        ):
            self.detokenize.get_concrete_function(ids_spec)

    def _sentencepiece(self) -> tf_text.SentencepieceTokenizer:
        # Called while tracing, so the model op lives in that function's graph. Created
        # eagerly, its kernel-owned resource would vanish whenever TF clears its eager
        # kernel cache, which tf.random.set_seed does.
        return tf_text.SentencepieceTokenizer(
            model=self._model, out_type=tf.int32, add_bos=True, add_eos=True, name=self._op_name
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, strings):
        if self.lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        return self._sentencepiece().tokenize(strings)

    @tf.function
    def detokenize(self, ids):
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(PAD_ID)
        return self._detokenize_padded(tf.cast(ids, tf.int32))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def _detokenize_padded(self, ids):
        # One graph holds the model op for all four detokenize traces.
        before_eos = tf.math.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32), axis=1) == 0
        keep = before_eos & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, BOS_ID)
        return self._sentencepiece().detokenize(tf.ragged.boolean_mask(ids, keep))

    @tf.function(input_signature=[tf.TensorSpec(None, tf.int32)])
    def id_to_token(self, ids):
        tokens = self._sentencepiece().id_to_string(tf.reshape(ids, [-1]))
        return tf.reshape(tokens, tf.shape(ids))


def train_sentencepiece(
    sentences: Iterable[str],
    model_path: str,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    lowercase: bool = False,
) -> None:
    """Trains a SentencePiece BPE model on `sentences` and writes it atomically.

    Args:
        sentences: iterable of str or UTF-8 bytes, the training corpus.
        model_path: str, where to write the model (its folder is created).
        vocab_size: int, maximum number of ids, special tokens included.
        lowercase: bool, lowercase the corpus with the same op `Tokenizer` uses.
    """
    corpus = [s.decode("utf-8") if isinstance(s, bytes) else s for s in sentences]
    if not corpus:
        raise ValueError(f"Cannot train {model_path}: the corpus is empty.")
    if lowercase:
        corpus = [s.decode("utf-8") for s in tf.strings.lower(corpus, encoding="utf-8").numpy()]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        byte_fallback=True,
        normalization_rule_name="identity",
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        pad_piece=SPECIAL_TOKENS[PAD_ID],
        unk_piece=SPECIAL_TOKENS[UNK_ID],
        bos_piece=SPECIAL_TOKENS[BOS_ID],
        eos_piece=SPECIAL_TOKENS[EOS_ID],
        # The thread count is recorded in the model; one thread keeps the bytes identical
        # across machines (BPE pieces do not depend on it).
        num_threads=1,
        minloglevel=2,
    )
    atomic.write_bytes(model_path, model.getvalue())


def build_tokenizer(
    sentences: Iterable[str],
    model_path: str,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    lowercase: bool = False,
) -> Tokenizer:
    """Returns the tokenizer cached at `model_path`, training it on `sentences` first if absent.

    `sentences` is only read when training, so a lazy iterable costs nothing on a cache
    hit. The cache is keyed by path only: put vocab_size and lowercase in the file name
    (as `prepare.tokenizer_path` does) and delete the file to retrain.
    """
    if not os.path.exists(model_path):
        logger.info("Training %s (vocab_size %d, lowercase %s).", model_path, vocab_size, lowercase)
        train_sentencepiece(sentences, model_path, vocab_size=vocab_size, lowercase=lowercase)
    return Tokenizer(model_path, lowercase=lowercase)


def round_trip_failures(tokenizer: Tokenizer, sentences: Sequence[str]) -> list[tuple[str, str]]:
    """(expected, got) for each sentence where detokenize(tokenize(s)) differs from s.

    With `tokenizer.lowercase` the expected text is the lowercased sentence.
    """
    expected = tf.constant(sentences, tf.string)
    if tokenizer.lowercase:
        expected = tf.strings.lower(expected, encoding="utf-8")
    got = tokenizer.detokenize(tokenizer.tokenize(tf.constant(sentences, tf.string)))
    return [
        (e.decode("utf-8"), g.decode("utf-8"))
        for e, g in zip(expected.numpy(), got.numpy())
        if e != g
    ]
