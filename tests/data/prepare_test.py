import argparse
import os

import pytest
import tensorflow as tf

from tests.data.fixtures import FIXTURE_VOCAB_SIZE, REQUIRED
from tf_transformer.data import load_split, load_tokenizers, prepare


def parse(*argv):
    parser = argparse.ArgumentParser()
    prepare.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_default_arguments():
    args = parse()
    assert (args.config, args.vocab_size, args.lowercase, args.max_length) == (
        "de-en",
        8000,
        False,
        128,
    )
    assert args.data_dir is None and args.source_dir is None and args.vocab_dir is None


def test_prepare_builds_dataset_and_tokenizers_and_prints_statistics(
    source_dir, tmp_path, capsys
):
    data_dir = tmp_path / "tfds"
    args = parse("--data-dir", str(data_dir), "--vocab-size", str(FIXTURE_VOCAB_SIZE))
    assert prepare.run(args) == 0
    out = capsys.readouterr().out
    assert f"train: {len(REQUIRED['train'])} pairs" in out
    assert f"validation: {len(REQUIRED['val'])} pairs" in out
    assert "round trip 100.00% / 100.00%" in out
    assert "Prepared in" in out
    for lang in ("de", "en"):
        assert (data_dir / "multi30k_tokenizers" / f"{lang}.cased.400.model").exists()


def test_prepare_reports_a_missing_file_and_fails(source_dir, tmp_path):
    (source_dir / "train.en.gz").unlink()
    with pytest.raises(prepare.DataError, match="train.en.gz not found"):
        prepare.run(parse("--data-dir", str(tmp_path / "tfds")))


def test_an_unknown_split_is_refused_with_the_known_ones(source_dir, tmp_path):
    with pytest.raises(prepare.DataError,
                       match="Unknown split 'bogus'; multi30k/de-en has train, validation"):
        load_split("bogus", data_dir=str(tmp_path / "tfds"))


def test_no_network_is_an_error_at_once(monkeypatch, tmp_path):
    monkeypatch.delenv("MULTI30K_DIR", raising=False)

    def unreachable(address, timeout):
        raise OSError("Name or service not known")

    monkeypatch.setattr(prepare.socket, "create_connection", unreachable)
    with pytest.raises(prepare.DataError, match="github.com cannot be reached.*--source-dir"):
        prepare.prepared_builder(data_dir=str(tmp_path / "tfds"))


def test_load_tokenizers_caches_per_language_casing_and_size(source_dir, tmp_path):
    data_dir, vocab_dir = str(tmp_path / "tfds"), tmp_path / "vocab"
    kwargs = dict(data_dir=data_dir, vocab_dir=str(vocab_dir), vocab_size=FIXTURE_VOCAB_SIZE)
    de, en = load_tokenizers("de-en", **kwargs)
    de_model = vocab_dir / "de.cased.400.model"
    modified = os.path.getmtime(de_model)
    en_again, de_again = load_tokenizers("en-de", **kwargs)  # same files, swapped roles
    assert os.path.getmtime(de_model) == modified
    sentence = tf.constant([REQUIRED["val"][0][0]])
    assert de_again.tokenize(sentence).to_list() == de.tokenize(sentence).to_list()
    assert en_again.vocab_size == en.vocab_size
    lower_de, _ = load_tokenizers("de-en", lowercase=True, **kwargs)
    assert lower_de.lowercase and (vocab_dir / "de.lowercase.400.model").exists()


def test_load_split_yields_source_target_strings(source_dir, tmp_path):
    pairs = load_split("validation", "en-de", data_dir=str(tmp_path / "tfds"))
    got = sorted((s.decode(), t.decode()) for s, t in pairs.as_numpy_iterator())
    assert got == sorted((en, de) for de, en in REQUIRED["val"])
