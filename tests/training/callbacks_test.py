import csv

import keras
import numpy as np
import pytest

from tf_transformer.training import callbacks as cb


class FakeWeights:
    """Stands in for `ModelWeights`: records what was saved."""

    def __init__(self):
        self.saved = []

    def save(self, path):
        self.saved.append(path)
        with open(path, "w") as f:
            f.write("weights")


def test_best_checkpoint_keeps_the_best_epoch_across_restarts(tmp_path):
    path = str(tmp_path / "best.weights.h5")
    weights = FakeWeights()
    best = cb.BestCheckpoint(weights, path, monitor="val_bleu", mode="max")
    for epoch, logs in enumerate([{"val_bleu": 10.0}, {}, {"val_bleu": 12.5},
                                  {"val_bleu": 11.0}, {"val_bleu": float("nan")}]):
        best.on_epoch_end(epoch, logs)
    assert len(weights.saved) == 2
    assert cb.read_json(path + ".json") == {"monitor": "val_bleu", "value": 12.5, "epoch": 3}
    # A resumed run compares with the best of the runs before it.
    again = cb.BestCheckpoint(FakeWeights(), path, monitor="val_bleu", mode="max")
    again.on_epoch_end(5, {"val_bleu": 12.0})
    assert not again.weights.saved and again.best == 12.5


def test_epoch_checkpoints_keep_the_last_n(tmp_path):
    epochs = cb.EpochCheckpoints(FakeWeights(), str(tmp_path), keep=2)
    for epoch in range(4):
        epochs.on_epoch_end(epoch)
    assert [p.rsplit("/", 1)[1] for p in epochs.paths()] == [
        "epoch-003.weights.h5", "epoch-004.weights.h5"]


def test_bleu_evaluation_scores_every_n_epochs_with_sacrebleu():
    references = ["A man runs along the beach.", "A dog plays with a red ball!"]
    calls = []

    def translate(sources):
        calls.append(sources)
        return [references[0], "A cat sleeps."]

    bleu = cb.BleuEvaluation(translate, ["s1", "s2"], references, every_epochs=2)
    logs = {}
    bleu.on_epoch_end(0, logs)
    assert logs == {} and not calls
    bleu.on_epoch_end(1, logs)
    import sacrebleu

    expected = sacrebleu.corpus_bleu([references[0], "A cat sleeps."], [references]).score
    assert calls == [["s1", "s2"]] and logs["val_bleu"] == pytest.approx(expected)
    assert 0 < logs["val_bleu"] < 100


def test_csv_log_keeps_its_columns_when_a_key_is_missing_or_a_run_resumes(tmp_path):
    path = str(tmp_path / "log.csv")
    for epochs in ([(0, {"loss": 2.0}), (1, {"loss": 1.5, "val_bleu": 3.0})],
                   [(2, {"loss": 1.0})]):  # the second process: a resumed run
        log = cb.CSVLog(path, extra_keys=["val_bleu"])
        log.on_train_begin()
        for epoch, logs in epochs:
            log.on_epoch_end(epoch, logs)
        log.on_train_end()
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows == [["epoch", "loss", "val_bleu"], ["0", "2.0", "NA"], ["1", "1.5", "3.0"],
                    ["2", "1.0", "NA"]]


def test_model_weights_average_and_atomic_files(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    weights = cb.ModelWeights(model, np.ones((1, 3), "float32"))
    snapshots = []
    for scale in (1.0, 3.0):
        model.set_weights([np.full(w.shape, scale, w.dtype) for w in model.get_weights()])
        snapshots.append(str(tmp_path / f"{scale}.weights.h5"))
        weights.save(snapshots[-1])
    weights.save_average(snapshots, str(tmp_path / "mean.weights.h5"))
    for array in weights.read(str(tmp_path / "mean.weights.h5")):
        np.testing.assert_array_equal(array, 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "1.0.weights.h5", "3.0.weights.h5", "mean.weights.h5"]  # no temporary files left


def test_training_backup_restores_weights_optimizer_and_position(tmp_path):
    def compiled():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(keras.optimizers.Adam(), "mse")
        return model

    model = compiled()
    backup = cb.TrainingBackup(str(tmp_path), every_steps=2)
    backup.set_model(model)
    for _ in range(3):
        model.train_on_batch(np.ones((4, 3)), np.zeros((4, 2)))
        backup.on_train_batch_end(0)
    backup.on_epoch_end(0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "state-000000003"]

    fresh = compiled()
    assert cb.TrainingBackup(str(tmp_path)).restore(fresh) == 3
    for restored, trained in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(restored, trained)
    assert int(fresh.optimizer.iterations) == 3
    assert cb.TrainingBackup(str(tmp_path / "none")).restore(compiled()) == 0
