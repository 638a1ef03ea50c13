"""`tf-transformer evaluate | translate | plot` and run-directory loading, on the toy model."""
import io
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer import cli
from tf_transformer.decoding import run as decoding_run
from tf_transformer.decoding.translator import Translator
from tf_transformer.ensemble import Ensemble
from tf_transformer.errors import UserError
from tf_transformer.model import Transformer
from tf_transformer.training import config as run_config

LINES = ["ein Mann fährt Fahrrad.", "", "die Frau läuft im Park.", "Kind."]


@pytest.fixture
def run(monkeypatch, toy_translator, tmp_path):
    """Runs `tf-transformer <name>` with the toy translator standing in for RUN's model."""
    calls = []

    def from_run_dir(run_dir, weights=None, **kwargs):
        calls.append(kwargs)
        return toy_translator

    monkeypatch.setattr(Translator, "from_run_dir", from_run_dir)
    run_config.dump(run_config.RunConfig(), str(tmp_path / "config.yaml"))

    def run(name, argv):
        return cli.main([name, "--run", str(tmp_path)] + argv)

    run.calls = calls
    return run


def test_translate_file_to_file_keeps_lines_and_empty_lines(run, toy_translator, tmp_path):
    source, target = tmp_path / "in.de", tmp_path / "out.en"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert run("translate", ["-i", str(source), "-o", str(target), "--beam-size", "2"]) == 0
    got = target.read_text(encoding="utf-8").split("\n")
    assert got == toy_translator.translate(LINES, beam_size=2) + [""]
    assert got[1] == ""


def test_translate_writes_the_output_whole_into_new_folders(run, toy_translator, tmp_path):
    # The output goes through `atomic.write_text` (tests/atomic_test.py: a killed write
    # leaves the old file), which also creates missing folders.
    source, target = tmp_path / "in.de", tmp_path / "new" / "folder" / "out.en"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert run("translate", ["-i", str(source), "-o", str(target), "--beam-size", "1"]) == 0
    assert target.read_text(encoding="utf-8") == "".join(
        t + "\n" for t in toy_translator.translate(LINES))
    assert os.listdir(target.parent) == ["out.en"]  # no temporary left behind


def test_translate_stdin_to_stdout(run, toy_translator, monkeypatch, capsys):
    stdin = io.TextIOWrapper(io.BytesIO("\n".join(LINES).encode("utf-8")))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert run("translate", ["--beam-size", "1"]) == 0
    assert capsys.readouterr().out == "".join(t + "\n" for t in toy_translator.translate(LINES))


# Every character `str.splitlines` takes for a line break, and a BOM, CRLF and bytes
# that are not UTF-8: still one input line per "\n".
LOOK_ALIKES = (b"\xef\xbb\xbfein Mann\r\n", b"Kind\x0cspielt.\n", b"ein\rMann.\n",
               b"Frau\x0b.\n", b"a\x1cb\x1dc\x1e.\n", "ein\x85Mann\u2028Kind\u2029.\n".encode(),
               b"\xff\xfe Park.\n", b"\n", "\u00a0\u3000\n".encode(), b"letzte Zeile")


def test_translate_gives_one_line_per_input_line_whatever_the_breaks(run, monkeypatch,
                                                                    capsys, tmp_path):
    stdin = io.TextIOWrapper(io.BytesIO(b"".join(LOOK_ALIKES)))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert run("translate", ["--beam-size", "1"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == len(LOOK_ALIKES) + 1 and lines[-1] == ""
    assert lines[7] == lines[8] == ""  # empty, and only NBSP / U+3000
    (tmp_path / "in.de").write_bytes(b"".join(LOOK_ALIKES))
    assert run("translate", ["-i", str(tmp_path / "in.de"), "--beam-size", "1"]) == 0
    assert capsys.readouterr().out.split("\n") == lines


def test_search_options_default_to_the_run_config(run, toy_translator, monkeypatch,
                                                   tmp_path, capsys):
    searches = []
    translate = toy_translator.translate
    monkeypatch.setattr(toy_translator, "translate", lambda sentences, beam_size, alpha, *a:
                        searches.append((beam_size, alpha)) or translate(sentences, beam_size))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Kind.")))
    assert run("translate", []) == 0
    config = run_config.from_dict({"decoding": {"beam_size": 2, "alpha": 1.0}})
    run_config.dump(config, os.path.join(tmp_path, "config.yaml"))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Kind.")))
    assert run("translate", []) == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Kind.")))
    assert run("translate", ["--beam-size", "3", "--alpha", "0.0"]) == 0
    assert searches == [(4, 0.6), (2, 1.0), (3, 0.0)]


def test_evaluate_prints_signature_and_writes_results(run, monkeypatch, capsys, tmp_path):
    references = ["A MAN RIDES A BIKE.", "", "THE WOMAN RUNS IN THE PARK.", "CHILD."]
    monkeypatch.setattr(decoding_run, "split_pairs",
                        lambda config, split: (split or "test_2016_flickr", LINES, references))
    assert run("evaluate", ["--beam-size", "2", "--output-dir", str(tmp_path / "eval")]) == 0
    assert run.calls[-1] == {"jit_compile": False, "use_cache": True}
    out = capsys.readouterr().out
    assert "sacreBLEU signature: nrefs:1|case:mixed|eff:no|tok:13a" in out
    assert " greedy: BLEU" in out and "  beam2: BLEU" in out and "sent/s" in out
    assert sorted(os.listdir(tmp_path / "eval")) == [
        "test_2016_flickr.beam2.txt", "test_2016_flickr.greedy.txt",
        "test_2016_flickr.metrics.json", "test_2016_flickr.reference.txt",
        "test_2016_flickr.source.txt"]
    written = (tmp_path / "eval" / "test_2016_flickr.reference.txt").read_text(encoding="utf-8")
    assert written.splitlines() == references


def test_plot_writes_a_png_per_layer_and_kind(run, tmp_path, capsys):
    assert run("plot", ["Ein Mann fährt Fahrrad.", "--output-dir", str(tmp_path / "p")]) == 0
    assert sorted(os.listdir(tmp_path / "p")) == [
        "cross_attention_layer1.png", "cross_attention_layer2.png",
        "encoder_self_attention_layer1.png", "encoder_self_attention_layer2.png"]
    capsys.readouterr()
    assert run("plot", ["  "]) == 2
    error = "tf-transformer: error: Nothing to plot: the sentence is empty.\n"
    assert capsys.readouterr().err == error


def _write_run(translator, folder, model=None):
    """A run directory holding the toy translator's tokenizers and `model`'s weights
    (default: the translator's); returns its config."""
    config = run_config.from_dict({"model": {"preset": "tiny", "max_length": 40},
                                   "data": {"vocab_size": 360, "max_length": 40}})
    run_config.dump(config, str(folder / "config.yaml"))
    os.makedirs(folder / "vocab")
    for lang, tokenizer in (("de", translator.source_tokenizer),
                            ("en", translator.target_tokenizer)):
        shutil.copy(tokenizer.model_file.asset_path.numpy().decode(),
                    folder / "vocab" / f"{lang}.cased.360.model")
    (model or translator.model).save_weights(str(folder / "model.weights.h5"))
    return config


def _other_model(translator):
    """The toy translator's architecture with other (seeded, random) weights."""
    tf.keras.utils.set_random_seed(5)
    model = Transformer.from_config(translator.model.get_config())
    model((np.ones((1, 3), np.int32), np.ones((1, 2), np.int32)))
    return model


def _greedy(translator, models, mode="linear"):
    """Greedy translations of LINES by one in-memory model, or by several as an ensemble,
    with the toy translator's tokenizers: what the CLI must write."""
    model = models[0] if len(models) == 1 else Ensemble(list(models), mode)
    return Translator(model, translator.source_tokenizer,
                      translator.target_tokenizer).translate(LINES, beam_size=1)


def test_from_run_dir_restores_the_translator(toy_translator, tmp_path):
    config = _write_run(toy_translator, tmp_path)
    restored = Translator.from_run_dir(str(tmp_path), max_length_ratio=1.0,
                                       max_length_offset=4)
    assert restored.translate(LINES, beam_size=2) == toy_translator.translate(LINES, beam_size=2)
    # The search defaults are the config's `decoding` ones; None keeps them too.
    assert (restored.beam_size, restored.alpha) == (4, 0.6)
    assert (config.decoding.beam_size, config.decoding.alpha) == (4, 0.6)
    other = Translator.from_run_dir(str(tmp_path), beam_size=2, alpha=None)
    assert (other.beam_size, other.alpha) == (2, 0.6)
    with pytest.raises(FileNotFoundError, match="tf-transformer train"):
        Translator.from_run_dir(str(tmp_path / "nothing"))
    os.remove(tmp_path / "model.weights.h5")
    with pytest.raises(FileNotFoundError, match="model.weights.h5 not found: has the run"):
        Translator.from_run_dir(str(tmp_path))


def test_evaluate_uncached_and_xla_flags_reach_the_translator(run, monkeypatch, tmp_path):
    monkeypatch.setattr(decoding_run, "split_pairs",
                        lambda config, split: (split, LINES, LINES))
    run("evaluate", ["--beam-size", "1", "--uncached", "--xla", "--limit", "1",
                     "--output-dir", str(tmp_path / "eval")])
    assert run.calls[-1] == {"jit_compile": True, "use_cache": False}


def test_evaluate_decodes_several_runs_as_one_ensemble(toy_translator, tmp_path, monkeypatch,
                                                       capsys):
    first, second, other = (tmp_path / name for name in ("a", "b", "other"))
    _write_run(toy_translator, first)
    model = _other_model(toy_translator)
    _write_run(toy_translator, second, model)
    monkeypatch.setattr(decoding_run, "split_pairs",
                        lambda config, split: ("test", LINES, LINES))
    assert cli.main(["evaluate", "--model", str(first), "--model", str(second),
                     "--beam-size", "1"]) == 0
    assert f"ensemble of {first}, {second}" in capsys.readouterr().out
    expected = _greedy(toy_translator, [toy_translator.model, model])
    written = (first / "eval" / "ensemble-a+b" / "test.greedy.txt").read_text(encoding="utf-8")
    assert written.splitlines() == expected
    # --ensemble-mode: the members' normalized geometric mean instead.
    assert cli.main(["evaluate", "--model", str(first), "--model", str(second),
                     "--beam-size", "1", "--ensemble-mode", "log_linear"]) == 0
    linear, expected = expected, _greedy(toy_translator, [toy_translator.model, model],
                                         "log_linear")
    assert expected != linear
    written = (first / "eval" / "ensemble-a+b" / "test.greedy.txt").read_text(encoding="utf-8")
    assert written.splitlines() == expected
    assert cli.main(["evaluate", "--model", str(first), "--ensemble-mode", "linear"]) == 2
    assert "--ensemble-mode combines several runs" in capsys.readouterr().err

    # Members must tokenize alike; an ensemble takes runs, each with its final weights.
    _write_run(toy_translator, other)
    shutil.copy(first / "vocab" / "de.cased.360.model", other / "vocab" / "en.cased.360.model")
    with pytest.raises(UserError, match="tokenize differently"):
        Translator.from_run_dirs([str(first), str(other)])
    # A member without its vocabularies says what is missing, as a single run does.
    os.remove(other / "vocab" / "en.cased.360.model")
    with pytest.raises(FileNotFoundError, match="en.cased.360.model not found: has the run"):
        Translator.from_run_dirs([str(first), str(other)])
    assert cli.main(["evaluate", "--model", str(first), "--model", str(second),
                     "--weights", str(first / "model.weights.h5")]) == 2
    assert "--weights takes one run" in capsys.readouterr().err


def test_epoch_checkpoints_of_a_run_are_members_with_their_own_weights(
        toy_translator, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "a"
    _write_run(toy_translator, run_dir)  # final weights: the toy model's
    other = _other_model(toy_translator)
    checkpoint = run_dir / "checkpoints" / "epoch-002.weights.h5"
    checkpoint.parent.mkdir()
    other.save_weights(str(checkpoint))
    monkeypatch.setattr(decoding_run, "split_pairs",
                        lambda config, split: ("test", LINES, LINES))

    def written(folder):
        return (folder / "test.greedy.txt").read_text(encoding="utf-8").splitlines()

    assert cli.main(["evaluate", "--model", str(checkpoint), "--model", str(run_dir),
                     "--beam-size", "1"]) == 0
    assert f"ensemble of {checkpoint}, {run_dir}" in capsys.readouterr().out
    ensemble = _greedy(toy_translator, [other, toy_translator.model])
    assert written(run_dir / "eval" / "ensemble-a@epoch-002+a") == ensemble
    assert ensemble != _greedy(toy_translator, [toy_translator.model])  # the checkpoint's weights count
    # One checkpoint alone is that run with those weights, as --run RUN --weights FILE.
    assert cli.main(["evaluate", "--model", str(checkpoint), "--beam-size", "1",
                     "--output-dir", str(tmp_path / "one")]) == 0
    assert written(tmp_path / "one") == _greedy(toy_translator, [other])

    capsys.readouterr()
    assert cli.main(["evaluate", "--model", str(checkpoint), "--weights",
                     str(run_dir / "model.weights.h5")]) == 2
    assert "both name weights" in capsys.readouterr().err
    stray = tmp_path / "stray.weights.h5"
    other.save_weights(str(stray))
    assert cli.main(["evaluate", "--model", str(stray), "--model", str(run_dir)]) == 2
    assert "is not in a training run" in capsys.readouterr().err
    assert cli.main(["evaluate", "--model", str(run_dir / "checkpoints" /
                                                 "epoch-009.weights.h5")]) == 2
    assert "epoch-009.weights.h5 not found" in capsys.readouterr().err
