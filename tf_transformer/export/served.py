"""Translation through an exported version's own signatures: exactly what TF Serving
returns for the same inputs (`serving_default` for beam search, `translate_greedy`).

`tf-transformer translate | evaluate --model saved_models/NAME[/VERSION]` use it
whenever the export serves the search asked for; other searches, XLA and attention
weights need the Keras model (`Translator.from_export`).

Example:
  >>> served = ServedTranslator("saved_models/multi30k_de_en/1", beam_size=4, alpha=1.0)
  >>> served.translate(["Ein Mann fährt Fahrrad."])
  ['A man is riding a bike.']
"""

import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the SentencePiece ops the SavedModel calls

from tf_transformer.decoding.translator import Translation
from tf_transformer.errors import UserError


class ServedTranslator:
    """The translate signatures of an exported version.

    Args:
      export_dir: a version folder written by `tf-transformer export`.
      beam_size, alpha: the search its `serving_default` signature runs (recorded in
        the export's assets/config.yaml, `decoding` section).
      target_tokenizer: the export's target `Tokenizer`, only to count the generated
        subwords of each translation (the signatures return text).
    """

    def __init__(self, export_dir: str, beam_size: int, alpha: float, target_tokenizer):
        try:
            loaded = tf.saved_model.load(export_dir)
        except (OSError, ValueError, tf.errors.OpError) as error:
            reason = str(error).strip().splitlines()[0][:200]
            raise UserError(f"{export_dir} is not a readable SavedModel ({reason}); export it "
                            "again with `tf-transformer export`.") from error
        self._loaded = loaded  # the signatures need it alive
        self.beam_size, self.alpha = beam_size, alpha
        self._signatures = {1: loaded.signatures["translate_greedy"],
                            beam_size: loaded.signatures["serving_default"]}
        self.target_tokenizer = target_tokenizer

    def serves(self, beam_size: int, alpha: float) -> bool:
        """Whether one of the signatures runs this search (greedy ignores alpha)."""
        return beam_size == 1 or (beam_size == self.beam_size and alpha == self.alpha)

    def translate(self, sentences, beam_size: int | None = None, alpha: float | None = None,
                  batch_size: int = 64) -> list:
        """Translations of `sentences` (str), in order; default search: the served one."""
        return [t.text for t in self.translate_detailed(sentences, beam_size, alpha, batch_size)]

    def translate_detailed(self, sentences, beam_size: int | None = None,
                           alpha: float | None = None, batch_size: int = 64) -> list:
        """`Translation`s with text, score and target subwords (no n-best, no tokens of
        the source)."""
        beam_size = self.beam_size if beam_size is None else beam_size
        alpha = self.alpha if alpha is None else alpha
        if not self.serves(beam_size, alpha):
            raise ValueError(f"The export serves beam {self.beam_size} with alpha {self.alpha} "
                             f"and greedy search, not beam {beam_size} with alpha {alpha}.")
        sentences = list(sentences)
        results = [None] * len(sentences)
        # Similar lengths share a batch (less padding); rows do not affect each other.
        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            outputs = self._signatures[beam_size](inputs=tf.constant([sentences[i] for i in rows]))
            texts = [t.decode("utf-8") for t in outputs["translations"].numpy()]
            for i, text, score, pieces in zip(rows, texts, outputs["scores"].numpy(),
                                              self._target_pieces(texts)):
                results[i] = Translation(text=text, score=float(score),
                                         nbest=[(text, float(score))], source_tokens=[],
                                         target_tokens=pieces, truncated=False)
        return results

    def _target_pieces(self, texts):
        """Subwords of each translation as the target tokenizer splits it, "[END]" last
        (none for an empty translation)."""
        ids = self.target_tokenizer.tokenize(tf.constant(texts, tf.string))
        pieces = self.target_tokenizer.id_to_token(ids.to_tensor()).numpy()
        return [[p.decode("utf-8") for p in row[1:n]] if text else []
                for row, n, text in zip(pieces, ids.row_lengths().numpy(), texts)]
