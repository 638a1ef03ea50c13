import argparse
import json
import os

import pytest
import tensorflow as tf
import yaml

from tests.data.fixtures import FIXTURE_VOCAB_SIZE, REQUIRED
from tf_transformer.data import load_split, load_tokenizers, prepare
from tf_transformer.training import cli_train
from tf_transformer.training import config as run_config


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli_train.add_prepare_arguments(parser)
    return parser.parse_args(list(argv))


def test_default_arguments():
    args = parse()
    assert (args.config, args.overrides, args.run_dir) == ("seed", [], None)


def write_config(folder, **data):
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump({"data": data}), encoding="utf-8")
    return str(path)


def test_prepare_builds_dataset_and_tokenizers_and_prints_statistics(
    source_dir, tmp_path, capsys
):
    config = write_config(tmp_path, tfds_dir=str(tmp_path / "tfds"),
                          vocab_size=FIXTURE_VOCAB_SIZE)
    run_dir = tmp_path / "run"
    assert cli_train.run_prepare(parse("--config", config, "--run-dir", str(run_dir))) == 0
    out = capsys.readouterr().out
    assert f"train: {len(REQUIRED['train'])} pairs" in out
    assert f"validation: {len(REQUIRED['val'])} pairs" in out
    assert "round trip 100.00% / 100.00%" in out
    assert "Prepared in" in out
    for lang in ("de", "en"):
        assert (run_dir / "vocab" / f"{lang}.cased.400.model").exists()
    record = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
    # The first validation sentences in the dataset's order (TFDS's, not the files').
    warmup = record["warmup"]
    assert len(warmup) == 3 and set(warmup) < {de for de, _ in REQUIRED["val"]}
    assert record["splits"]["train"] == {"pairs": 40, "skipped": {}, "examples": []}


def test_prepare_trains_the_same_tokenizers_as_before(source_dir, tmp_path):
    # Multi30k results must not change: the run's vocabularies are byte-identical to
    # those `load_tokenizers` trains from the whole train split.
    config = run_config.from_dict({"data": {"tfds_dir": str(tmp_path / "tfds"),
                                            "vocab_size": FIXTURE_VOCAB_SIZE}})
    _, corpus, tokenizers, _ = prepare.prepare_run(config, str(tmp_path / "run"))
    assert corpus.split_names == ["train", "validation", "test_2016_flickr"]
    expected = load_tokenizers("de-en", data_dir=str(tmp_path / "tfds"),
                               vocab_dir=str(tmp_path / "vocab"), vocab_size=FIXTURE_VOCAB_SIZE)
    for got, want in zip(tokenizers, expected):
        assert got._model == want._model


def test_prepare_reports_a_missing_file_and_fails(source_dir, tmp_path):
    (source_dir / "train.en.gz").unlink()
    config = write_config(tmp_path, tfds_dir=str(tmp_path / "tfds"))
    with pytest.raises(prepare.DataError, match="train.en.gz not found"):
        cli_train.run_prepare(parse("--config", config, "--run-dir", str(tmp_path / "run")))


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


def test_joint_vocabulary_is_one_model_for_both_languages(tmp_path):
    rows = [(f"olá mundo {i}", f"hello world {i}") for i in range(30)]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
    config = run_config.from_dict({
        "data": {"source": "files", "source_language": "pt", "target_language": "en",
                 "splits": {"train": str(tsv), "validation": str(tsv)},
                 "vocab_size": FIXTURE_VOCAB_SIZE, "joint_vocabulary": True,
                 "tokenizer_sample": 10},
        "model": {"tie_all_embeddings": True}})
    run_dir = tmp_path / "run"
    _, _, (source, target), _ = prepare.prepare_run(config, str(run_dir))
    assert os.listdir(run_dir / "vocab") == ["pt+en.cased.400.model"]
    assert source._model == target._model
    # Both languages' words are pieces of it: "olá" and "hello" are not split into bytes.
    assert len(source.tokenize(tf.constant(["olá", "hello"])).to_list()[0]) == 3


def test_the_tokenizer_sample_is_bounded(tmp_path):
    rows = "".join(f"s{i}\tt{i}\n" for i in range(100))
    (tmp_path / "a.tsv").write_text(rows, encoding="utf-8")
    corpus = prepare.open_corpus(run_config.from_dict({"data": {
        "source": "files", "source_language": "x", "target_language": "y",
        "splits": {"train": str(tmp_path / "a.tsv"), "validation": str(tmp_path / "a.tsv")}}}
    ).data)
    reports, sample = prepare.scan(corpus, sample_size=7)
    assert len(sample) == 7 and len(set(sample)) == 7 and reports["train"].pairs == 100
