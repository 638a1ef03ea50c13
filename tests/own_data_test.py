"""A language pair no data set of the project has, through `tf-transformer` commands only.

The synthetic pair of tests/synthetic.py (reversed words, cipher vocabulary): training
pairs in a TSV with 1 % bad lines, validation pairs as two aligned files, a test split
in a TSV. `prepare`, `train` (tiny preset cut to 1+1 layers, 300 steps), `evaluate
--split test` and `export`; the SavedModel then translates unseen sentences.
Threshold: test BLEU >= 50 (seen: 90; chance, any fluent output of the right words in
another order, stays under 10 since 4-grams rarely match).
"""

import json

import pytest
import tensorflow as tf
import yaml

from tests import synthetic
from tf_transformer import cli
from tf_transformer.decoding.run import load_split_pairs
from tf_transformer.errors import UserError

pytestmark = pytest.mark.slow

BAD_LINES = ["no tab here", "three\tfields\there", "\tempty source"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The config file of the synthetic pair (relative paths) and its folder."""
    folder = tmp_path_factory.mktemp("own_data")
    (folder / "corpus").mkdir()
    with open(folder / "corpus" / "train.tsv", "w", encoding="utf-8") as f:
        for i, (source, target) in enumerate(synthetic.pairs(2000, seed=1)):
            f.write(f"{source}\t{target}\n")
            if i % 100 == 0:  # 20 bad lines in 2,020: 1 %
                f.write(BAD_LINES[i // 100 % 3] + "\n")
    synthetic.write_aligned(folder / "corpus" / "valid.sx", folder / "corpus" / "valid.tx",
                            synthetic.pairs(50, seed=2))
    synthetic.write_tsv(folder / "corpus" / "test.tsv", synthetic.pairs(100, seed=3))
    config = {
        "model": {"preset": "tiny", "dropout": 0.0, "num_encoder_layers": 1,
                  "num_decoder_layers": 1},
        "data": {"source": "files", "source_language": "sx", "target_language": "tx",
                 "splits": {"train": "corpus/train.tsv",
                            "validation": ["corpus/valid.sx", "corpus/valid.tx"],
                            "test": "corpus/test.tsv"},
                 "vocab_size": 320, "batch_size": 32},
        "optimizer": {"learning_rate": 3e-3},
        "training": {"epochs": 1, "steps_per_epoch": 300, "validation_steps": 1},
        "callbacks": {"save_best": False},
    }
    (folder / "run.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained_run(corpus):
    run_dir = corpus / "run"
    common = ["--config", str(corpus / "run.yaml"), "--run-dir", str(run_dir)]
    assert cli.main(["prepare", *common]) == 0
    assert cli.main(["train", *common, "--verbose", "0"]) == 0
    return run_dir


def test_prepare_counts_the_bad_lines_and_train_reuses_the_vocabularies(trained_run):
    record = json.loads((trained_run / "data.json").read_text(encoding="utf-8"))
    train = record["splits"]["train"]
    assert train["pairs"] == 2000
    assert train["skipped"] == {"not exactly one tab": 14, "empty source": 6}
    assert train["examples"][0].endswith("train.tsv:2: not exactly one tab")
    assert sorted(p.name for p in (trained_run / "vocab").iterdir()) == [
        "sx.cased.320.model", "tx.cased.320.model"]
    assert record["warmup"] == [source for source, _ in synthetic.pairs(3, seed=2)]


def test_evaluate_split_scores_far_above_chance(trained_run):
    assert cli.main(["evaluate", "--run", str(trained_run), "--split", "test",
                     "--beam-size", "1"]) == 0
    (greedy,) = json.loads((trained_run / "eval" / "test.metrics.json").read_text())
    assert greedy["sentences"] == 100
    assert greedy["scores"]["bleu"] >= 50
    with pytest.raises(UserError, match="this run's splits are train, validation, test"):
        load_split_pairs(str(trained_run), "test_2016_flickr")


def test_evaluate_scores_any_aligned_files(trained_run, corpus):
    # The validation files, scored as --source/--reference: the same pairs as the split.
    assert cli.main(["evaluate", "--run", str(trained_run), "--beam-size", "1",
                     "--source", str(corpus / "corpus" / "valid.sx"),
                     "--reference", str(corpus / "corpus" / "valid.tx")]) == 0
    assert cli.main(["evaluate", "--run", str(trained_run), "--beam-size", "1",
                     "--split", "validation"]) == 0
    eval_dir = trained_run / "eval"
    for name in ("source", "reference", "greedy"):
        assert ((eval_dir / f"source.{name}.txt").read_text()
                == (eval_dir / f"validation.{name}.txt").read_text())


def test_the_exported_model_translates_the_pair(trained_run, tmp_path):
    # Loaded here: that an export runs in a fresh process with only TensorFlow and TF
    # Text, tests/export/serving_test.py checks for the same exporter.
    output = tmp_path / "saved_models"
    assert cli.main(["export", "--run", str(trained_run), "--name", "synthetic",
                     "--output-dir", str(output)]) == 0
    unseen = synthetic.pairs(20, seed=4)
    serve = tf.saved_model.load(str(output / "synthetic" / "1")).signatures["serving_default"]
    outputs = serve(inputs=tf.constant([source for source, _ in unseen]))
    translations = [t.decode("utf-8") for t in outputs["translations"].numpy()]
    correct = sum(got == target for got, (_, target) in zip(translations, unseen))
    assert correct >= 14, list(zip(translations, unseen))
