"""Corpus scores with sacreBLEU, and timed evaluation of a `Translator` on a split.

Scores (all from the `sacrebleu` library, one reference per sentence):
- `bleu`: cased sacreBLEU, default 13a tokenization (the number to report, with its
  signature);
- `bleu_lowercase`: the same, lowercased;
- `chrf`: chrF (character 6-grams, beta 2);
- `bleu_tutorial`: comparable with tutorials that score lowercased, word-tokenized
  text (e.g. torchtext's `bleu_score` on spaCy tokens): hypotheses and references are
  lowercased and split into words and single punctuation marks with the regex
  `\\w+|[^\\w\\s]` (the performance anchors' tokenization), then scored by sacreBLEU with
  `tokenize="none"` and no smoothing.
"""
import dataclasses
import os
import re
import time

import sacrebleu

from tf_transformer import atomic

_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tutorial_tokenize(text: str) -> str:
    """Lowercased words and punctuation marks, space-separated ("A man's hat." ->
    "a man ' s hat .")."""
    return " ".join(_WORD_RE.findall(text.lower()))


def corpus_scores(hypotheses, references) -> dict:
    """sacreBLEU scores of `hypotheses` against `references` (lists of str, aligned).

    Returns:
      dict with floats `bleu`, `bleu_lowercase`, `chrf`, `bleu_tutorial` (0-100) and
      the strings `bleu_signature`, `chrf_signature` and `bleu_detail` (n-gram
      precisions and brevity penalty).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references.")
    bleu, bleu_lower, chrf = sacrebleu.BLEU(), sacrebleu.BLEU(lowercase=True), sacrebleu.CHRF()
    # force: the input is tokenized on purpose (silences sacreBLEU's warning).
    tutorial = sacrebleu.BLEU(tokenize="none", smooth_method="none", force=True)
    cased = bleu.corpus_score(hypotheses, [references])
    return {
        "bleu": cased.score,
        "bleu_lowercase": bleu_lower.corpus_score(hypotheses, [references]).score,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "bleu_tutorial": tutorial.corpus_score(
            [tutorial_tokenize(h) for h in hypotheses],
            [[tutorial_tokenize(r) for r in references]]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "bleu_detail": cased.format(),
    }


@dataclasses.dataclass
class DecodingRun:
    """Scores and speed of one decoding configuration on one split."""

    name: str  # "greedy" or "beam4"
    beam_size: int
    alpha: float
    sentences: int
    seconds: float  # wall time of translate(), tokenization included
    generated_tokens: int  # target subwords of the best hypotheses, EOS included
    scores: dict  # as `corpus_scores`
    hypotheses: list = dataclasses.field(repr=False)

    def summary(self) -> str:
        s = self.scores
        return (f"{self.name:>7}: BLEU {s['bleu']:5.2f} | lowercased {s['bleu_lowercase']:5.2f}"
                f" | chrF {s['chrf']:5.2f} | tutorial BLEU {s['bleu_tutorial']:5.2f}"
                f" | {self.sentences / self.seconds:7.1f} sent/s,"
                f" {self.generated_tokens / self.seconds:7.0f} tok/s")


def evaluate(translator, sources, references, beam_sizes=(1, 4), alpha: float = 0.6,
             batch_size: int = 64) -> list:
    """Translates `sources` once per beam size and scores against `references`.

    Returns:
      a list of `DecodingRun`, one per beam size (1 is greedy search).
    """
    runs = []
    for beam_size in beam_sizes:
        start = time.perf_counter()
        translations = translator.translate_detailed(sources, beam_size, alpha, batch_size)
        seconds = time.perf_counter() - start
        hypotheses = [t.text for t in translations]
        runs.append(DecodingRun(
            name="greedy" if beam_size == 1 else f"beam{beam_size}", beam_size=beam_size,
            alpha=alpha, sentences=len(sources), seconds=seconds,
            generated_tokens=sum(len(t.target_tokens) for t in translations),
            scores=corpus_scores(hypotheses, references), hypotheses=hypotheses))
    return runs


def write_results(runs, output_dir: str, split: str, sources, references) -> list:
    """Writes `<split>.source.txt`, `<split>.reference.txt`, `<split>.<name>.txt` per
    run (one sentence per line, all in the same order) and `<split>.metrics.json`;
    returns the paths written.

    The sources and references are written too because the split's order (TFDS's)
    need not be the order of the raw files.
    """
    texts = [("source", sources), ("reference", references)]
    texts += [(run.name, run.hypotheses) for run in runs]
    paths = []
    for name, lines in texts:
        paths.append(os.path.join(output_dir, f"{split}.{name}.txt"))
        atomic.write_text(paths[-1], "".join(line + "\n" for line in lines))
    metrics = [{k: v for k, v in dataclasses.asdict(run).items() if k != "hypotheses"}
               for run in runs]
    paths.append(os.path.join(output_dir, f"{split}.metrics.json"))
    atomic.write_json(metrics, paths[-1])
    return paths
