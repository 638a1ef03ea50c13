"""sacreBLEU scores against hand-computed BLEU, and evaluation outputs."""
import collections
import json
import math

import pytest

from tf_transformer.decoding.evaluate import (
    corpus_scores, evaluate, tutorial_tokenize, write_results)
from tf_transformer.decoding.translator import Translation

REFERENCES = ["A man is riding a bike down the street.", "Two dogs are playing in the snow.",
              "A woman in a red coat sells fruit at a market.", "Children play soccer."]
HYPOTHESES = ["a man rides a bike on the street.", "Two dogs play in the snow.",
              "A woman in a red jacket sells fruit at the market.", "Kids are playing soccer."]


def reference_bleu(hypotheses, references):
    """Papineni et al. corpus BLEU-4, uniform weights, no smoothing, whitespace tokens."""
    matches, totals = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        hyp, ref = hyp.split(), ref.split()
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
        for n in range(1, 5):
            h = collections.Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            r = collections.Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = min(0.0, 1 - ref_len / hyp_len)
    return 100 * math.exp(log_precision + brevity)


def test_tutorial_tokenize():
    assert tutorial_tokenize("A man's T-shirt, (red).") == "a man ' s t - shirt , ( red ) ."


def test_corpus_scores():
    scores = corpus_scores(HYPOTHESES, REFERENCES)
    expected = reference_bleu([tutorial_tokenize(h) for h in HYPOTHESES],
                              [tutorial_tokenize(r) for r in REFERENCES])
    assert scores["bleu_tutorial"] == pytest.approx(expected, rel=1e-9)
    # "a man" vs "A man" only matches when lowercased.
    assert scores["bleu_lowercase"] > scores["bleu"] > 10
    assert 0 < scores["chrf"] < 100
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    perfect = corpus_scores(REFERENCES, REFERENCES)
    for key in ("bleu", "bleu_lowercase", "chrf", "bleu_tutorial"):
        assert perfect[key] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="3 hypotheses but 4 references"):
        corpus_scores(HYPOTHESES[:3], REFERENCES)


class EchoTranslator:
    """Returns HYPOTHESES for beam 1 and REFERENCES for wider beams."""

    def translate_detailed(self, sentences, beam_size, alpha, batch_size):
        texts = HYPOTHESES if beam_size == 1 else REFERENCES
        return [Translation(text=t, score=-1.0, nbest=[(t, -1.0)], source_tokens=[],
                            target_tokens=t.split() + ["[END]"], truncated=False)
                for t in texts[:len(sentences)]]


def test_evaluate_and_write_results(tmp_path):
    runs = evaluate(EchoTranslator(), ["x"] * 4, REFERENCES, beam_sizes=(1, 4))
    assert [r.name for r in runs] == ["greedy", "beam4"]
    assert runs[1].scores["bleu"] == pytest.approx(100.0)
    assert runs[0].generated_tokens == sum(len(h.split()) + 1 for h in HYPOTHESES)
    assert "BLEU" in runs[0].summary() and "sent/s" in runs[0].summary()
    paths = write_results(runs, str(tmp_path / "eval"), "test_2016_flickr",
                          ["x"] * 4, REFERENCES)
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "test_2016_flickr.source.txt", "test_2016_flickr.reference.txt",
        "test_2016_flickr.greedy.txt", "test_2016_flickr.beam4.txt",
        "test_2016_flickr.metrics.json"]
    lines = [open(p, encoding="utf-8").read().splitlines() for p in paths[:3]]
    assert lines == [["x"] * 4, REFERENCES, HYPOTHESES]
    metrics = json.load(open(paths[4]))
    assert metrics[1]["beam_size"] == 4 and metrics[1]["scores"]["bleu"] == pytest.approx(100)
