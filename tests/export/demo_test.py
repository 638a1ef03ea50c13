"""`make demo` (tf_transformer.demo) on the exported toy model: translations through the
SavedModel, the BLEU step and its message when the data is absent, the heat-map."""

import os

import pytest

from tf_transformer import demo
from tf_transformer.data import prepare

pytestmark = pytest.mark.slow


def test_demo_translates_and_writes_the_heat_map(exported, tmp_path, capsys, monkeypatch):
    def no_data(*args, **kwargs):
        raise FileNotFoundError("Provide test_2016_flickr.de.gz in one of two ways: ...")

    monkeypatch.setattr(prepare, "load_split", no_data)
    assert demo.main(["--servable", exported.path, "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("  de:     ") == len(demo.SENTENCES)
    assert out.count("  beam:   ") == out.count("  greedy: ") == len(demo.SENTENCES)
    assert "BLEU skipped: Multi30k test_2016_flickr is not available here" in out
    assert "MULTI30K_DIR" in out
    assert os.path.getsize(tmp_path / "cross_attention.png") > 10_000


def test_demo_scores_the_test_split(exported, tmp_path, capsys, monkeypatch):
    pairs = [("Ein Mann läuft am Strand entlang.", "A man walks along the beach.")] * 3
    monkeypatch.setattr(demo, "_test_split", lambda: tuple(map(list, zip(*pairs))))
    assert demo.main(["--servable", exported.path, "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Translating test_2016_flickr (3 sentences) with beam search" in out
    assert "cased BLEU" in out and "nrefs:1|case:mixed" in out


def test_demo_without_a_model_says_how_to_get_one(tmp_path, capsys):
    assert demo.main(["--servable", str(tmp_path / "missing")]) == 1
    assert "no SavedModel at" in capsys.readouterr().err
