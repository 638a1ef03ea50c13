import csv
import os
import shutil

import keras
import numpy as np
import pytest

from tf_transformer import atomic
from tf_transformer.errors import UserError
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


def test_an_unreadable_checkpoint_is_left_out_of_the_average_with_a_warning(tmp_path,
                                                                            caplog):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    weights = cb.ModelWeights(model, np.ones((1, 3), "float32"))
    paths = [str(tmp_path / f"epoch-00{i}.weights.h5") for i in (1, 2, 3)]
    for scale, path in zip((1.0, 2.0, 4.0), paths):
        model.set_weights([np.full(w.shape, scale, w.dtype) for w in model.get_weights()])
        weights.save(path)
    with open(paths[1], "r+b") as f:
        f.truncate(96)
    with caplog.at_level("WARNING"):
        weights.save_average(paths, str(tmp_path / "mean.weights.h5"))
    assert len(caplog.records) == 1 and "epoch-002.weights.h5 out of the average" in caplog.text
    for array in weights.read(str(tmp_path / "mean.weights.h5")):
        np.testing.assert_array_equal(array, 2.5)


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


class Killed(BaseException):
    """A simulated SIGKILL at a kill point: nothing catches it, and while it is
    raised the clean-up of temporary files is off (`atomic._remove`), so the disk
    is left as a killed process leaves it."""


def _write_partly(path, text="{\"batch"):
    with open(path, "w") as f:
        f.write(text)


def _killing_state_writer(save_weights, truncate):
    def write(path):
        if truncate:  # the 96-byte state file
            save_weights(path)
            with open(path, "r+b") as f:
                f.truncate(96)
        raise Killed(path)
    return write


def _killing_rmtree(rmtree, partly):
    def remove(path, *args, **kwargs):
        if partly:
            os.remove(os.path.join(path, cb.STATE_FILE))
        raise Killed(path)
    return remove


# kill point -> (what to patch, the replacement, batches the rerun resumes after)
# The killed save is the epoch-end backup after batch 5; the one before is after batch 4.
KILL_POINTS = {
    "before writing state.weights.h5": ("save_weights", dict(truncate=False), 4),
    "while writing state.weights.h5": ("save_weights", dict(truncate=True), 4),
    "before writing progress.json": ("write_json", dict(partly=False), 4),
    "while writing progress.json": ("write_json", dict(partly=True), 4),
    "before renaming the complete folder": ("replace_dir", {}, 4),
    "while writing latest": ("write_text", {}, 5),
    "before deleting the older backup": ("rmtree", dict(partly=False), 5),
    "while deleting the older backup": ("rmtree", dict(partly=True), 5),
}


def _train(model, backup, until, steps_per_epoch=5):
    """Trains batch i on the i-th (deterministic) example, calling the backup's hooks."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(until, 4, 3)), rng.normal(size=(until, 4, 2))
    for step in range(backup.batches_done, until):
        model.train_on_batch(x[step], y[step])
        backup.on_train_batch_end(step)
        if (step + 1) % steps_per_epoch == 0:
            backup.on_epoch_end(step // steps_per_epoch)


def _compiled_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    return model


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_a_kill_at_any_point_of_a_backup_resumes_with_the_same_final_weights(
        tmp_path, monkeypatch, kill_point):
    reference = _compiled_model()
    reference_backup = cb.TrainingBackup(str(tmp_path / "reference"), every_steps=2)
    reference_backup.set_model(reference)
    _train(reference, reference_backup, 10)

    target, options, resumed_after = KILL_POINTS[kill_point]
    directory = str(tmp_path / "backup")
    model = _compiled_model()
    backup = cb.TrainingBackup(directory, every_steps=2)
    backup.set_model(model)
    with monkeypatch.context() as patch:
        real = {"save_weights": model.save_weights, "write_json": cb.write_json,
                "replace_dir": atomic.replace_dir, "write_text": atomic.write_text,
                "rmtree": cb.shutil.rmtree}

        def armed(function):  # the replacement, active during the save after batch 5 only
            def call(*args, **kwargs):
                if backup.batches_done == 5 and (target != "write_text"
                                                 or args[0].endswith("latest")):
                    patch.setattr(atomic, "_remove", lambda path: None)
                    return function(*args, **kwargs)
                return real[target](*args, **kwargs)
            return call

        if target == "save_weights":
            patch.setattr(model, "save_weights",
                          armed(_killing_state_writer(real[target], **options)))
        elif target == "write_json":
            def write_json(value, path):
                if options["partly"]:
                    _write_partly(atomic.temp_path(path))
                raise Killed(path)
            patch.setattr(cb, "write_json", armed(write_json))
        elif target == "rmtree":
            patch.setattr(cb.shutil, "rmtree", armed(_killing_rmtree(real[target], **options)))
        else:
            def kill(*args, **kwargs):
                raise Killed(args)
            patch.setattr(atomic, target, armed(kill))
        with pytest.raises(Killed):
            _train(model, backup, 10)

    rerun = _compiled_model()
    backup = cb.TrainingBackup(directory, every_steps=2)
    backup.set_model(rerun)
    assert backup.restore(rerun) == resumed_after
    _train(rerun, backup, 10)
    for final, expected in zip(rerun.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(final, expected)
    assert sorted(os.listdir(directory)) == ["latest", "state-000000010"]  # leftovers gone


def test_an_epoch_end_right_after_a_step_backup_writes_nothing(tmp_path, monkeypatch):
    # The case: the epoch-end backup rewrote the files `latest` named.
    model = _compiled_model()
    backup = cb.TrainingBackup(str(tmp_path), every_steps=5)
    backup.set_model(model)
    saves, save_weights = [], model.save_weights

    def save(path):
        saves.append(backup.batches_done)
        save_weights(path)

    monkeypatch.setattr(model, "save_weights", save)
    _train(model, backup, 10)
    assert saves == [5, 10]


def test_restore_falls_back_to_the_newest_readable_backup_with_a_warning(tmp_path, caplog):
    model = _compiled_model()
    backup = cb.TrainingBackup(str(tmp_path), every_steps=1)
    backup.set_model(model)
    kept = tmp_path / "kept"
    for batches in (1, 2, 3):  # keep all three backups (a save deletes the older ones)
        _train(model, backup, batches)
        shutil.copytree(tmp_path / f"state-00000000{batches}", kept / f"state-00000000{batches}")
    shutil.copytree(kept, tmp_path, dirs_exist_ok=True)
    with open(tmp_path / "state-000000003" / cb.STATE_FILE, "r+b") as f:
        f.truncate(96)
    with open(tmp_path / "state-000000002" / cb.PROGRESS_FILE, "w") as f:
        f.write("{")
    fresh = _compiled_model()
    with caplog.at_level("WARNING"):
        assert cb.TrainingBackup(str(tmp_path)).restore(fresh) == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "state-000000003 is unreadable" in warnings[0]
    assert "state-000000002 is unreadable" in warnings[1]
    os.remove(tmp_path / "state-000000001" / cb.STATE_FILE)
    with pytest.raises(UserError, match="delete that folder"):
        cb.TrainingBackup(str(tmp_path)).restore(_compiled_model())
