"""Callbacks of `tf-transformer train`: backups, checkpoints, averaging, BLEU, logs.

Every file and backup folder is written beside its destination and renamed into
place (`tf_transformer.atomic`), so a run killed at any moment (even with SIGKILL)
leaves either the old or the new one, never half of one; what a reader cannot read
anyway (a disk error, a file edited by hand) is skipped with a warning.
"""

import json
import logging
import math
import os
import re
import shutil

import keras
import numpy as np

from tf_transformer import atomic
from tf_transformer.atomic import write_json
from tf_transformer.errors import UserError

logger = logging.getLogger(__name__)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class ModelWeights:
    """Model weights without optimizer state: small files to decode, export, average.

    `model.save_weights` also stores the optimizer's slots (3x the size for
    Adam); this writes the weights through an uncompiled copy of the model.

    Args:
        model: the (built) model being trained.
        sample_inputs: inputs that build a copy of it, e.g. `(src[:1], tgt[:1])`.
    """

    def __init__(self, model, sample_inputs):
        self.model = model
        self.copy = type(model).from_config(model.get_config())
        self.copy(sample_inputs, training=False)

    def save(self, path):
        """Writes the model's current weights to `path` (`*.weights.h5`)."""
        self.copy.set_weights(self.model.get_weights())
        atomic.replace_file(self.copy.save_weights, path)

    def read(self, path):
        """The list of arrays stored in `path`, in `model.get_weights()` order."""
        self.copy.load_weights(path)
        return self.copy.get_weights()

    def save_average(self, paths, path):
        """Writes the element-wise mean of the weights in `paths` to `path`.

        A file that cannot be read is left out, with a warning.
        """
        total, count = None, 0
        for other in paths:
            try:
                arrays = self.read(other)
            except Exception as error:  # whatever h5py or Keras raise on a damaged file
                logger.warning("Leaving %s out of the average: unreadable (%s).", other, error)
                continue
            total = [np.asarray(w, np.float64) for w in arrays] if total is None else [
                acc + w for acc, w in zip(total, arrays)]
            count += 1
        if not count:
            raise UserError(f"None of the checkpoints {paths} can be read; nothing to average.")
        self.copy.set_weights([(acc / count).astype(w.dtype)
                               for acc, w in zip(total, self.copy.get_weights())])
        atomic.replace_file(self.copy.save_weights, path)


_BACKUP = re.compile(r"state-(\d{9})")
STATE_FILE = "state.weights.h5"
PROGRESS_FILE = "progress.json"


def _random_states(model) -> list:
    """The variables that `save_weights` leaves out: the states of the seed generators
    (dropout masks), which a resumed run needs to draw what the killed one would have."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class TrainingBackup(keras.callbacks.Callback):
    """Backs up the full training state so that a killed run resumes where it was.

    Like `keras.callbacks.BackupAndRestore`, but aware of the position inside an
    epoch: the state (weights, optimizer slots, random-number states) and the number
    of batches trained are saved together every `every_steps` batches and at the end of
    every epoch, and `restore()` returns that number so the trainer can finish
    the interrupted epoch with the batches it had left.

    Each backup is a folder `state-NNNNNNNNN` (N: batches trained), written under a
    temporary name and renamed into place when complete; the file `latest` then
    names it, and only after that are the older backups deleted. An epoch end right
    after a step backup (same N, same state) writes nothing. `restore()` loads the
    newest backup that can be read, so a kill at any point of a save resumes from
    the newest complete one.

    Args:
        directory: folder for the backups.
        every_steps: int, also back up every N batches; 0: epoch ends only.
    """

    def __init__(self, directory, every_steps=0):
        super().__init__()
        self.directory = directory
        self.every_steps = every_steps
        self.batches_done = 0
        self._saved = None  # batches_done of the backup this process last wrote or read

    def backups(self) -> list:
        """The complete backups' folders, newest first."""
        if not os.path.isdir(self.directory):
            return []
        names = [n for n in os.listdir(self.directory) if _BACKUP.fullmatch(n)]
        return [os.path.join(self.directory, n) for n in sorted(names, reverse=True)]

    def restore(self, model):
        """Loads the newest readable backup into `model` (built and compiled).

        Returns:
            int, the number of batches trained before the backup (0 if none).

        Raises:
            UserError: there are backups but none can be read.
        """
        folders = self.backups()
        if not folders:
            return 0
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        for folder in folders:
            try:
                progress = read_json(os.path.join(folder, PROGRESS_FILE))
                done = int(progress["batches_done"])
                model.load_weights(os.path.join(folder, STATE_FILE))
            except Exception as error:  # whatever h5py, Keras or json raise on damage
                logger.warning("Backup %s is unreadable (%s); trying the one before it.",
                               folder, error)
                continue
            # Backups of earlier versions lack the random states: dropout then draws anew.
            states = progress.get("random_states", [])
            for variable, state in zip(_random_states(model), states):
                variable.assign(np.asarray(state, variable.dtype))
            self.batches_done = self._saved = done
            return done
        raise UserError(f"None of the backups in {self.directory} can be read; delete that "
                        "folder to train this run from the start.")

    def save(self):
        name = f"state-{self.batches_done:09d}"
        with atomic.replaced_dir(os.path.join(self.directory, name)) as tmp:
            self.model.save_weights(os.path.join(tmp, STATE_FILE))
            states = [keras.ops.convert_to_numpy(v).tolist() for v in _random_states(self.model)]
            write_json({"batches_done": self.batches_done, "random_states": states},
                       os.path.join(tmp, PROGRESS_FILE))
        atomic.write_text(os.path.join(self.directory, "latest"), name)
        self._saved = self.batches_done
        for folder in self.backups():
            if os.path.basename(folder) != name:
                shutil.rmtree(folder)
        atomic.remove_temporaries(self.directory)

    def on_train_batch_end(self, batch, logs=None):
        self.batches_done += 1
        if self.every_steps and self.batches_done % self.every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        if self.batches_done != self._saved:
            self.save()


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by `monitor`, with its score.

    The score is stored beside the weights (`<path>.json`), so a resumed run
    compares against the best epoch of the runs before it. Epochs whose logs
    lack `monitor` (e.g. BLEU computed every N epochs) are skipped.

    Args:
        weights: a `ModelWeights`.
        path: `*.weights.h5` file.
        monitor: key of the epoch logs, e.g. "val_loss".
        mode: "min" or "max".
    """

    def __init__(self, weights, path, monitor="val_loss", mode="min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self.weights = weights
        self.path = path
        self.monitor = monitor
        self.mode = mode
        self.record = path + ".json"
        self.best = None
        if os.path.exists(self.record):
            try:
                self.best = float(read_json(self.record)["value"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                logger.warning("Ignoring the unreadable best score %s (%s); the next epoch "
                               "with a score becomes the best.", self.record, error)

    def _improves(self, value):
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(value) or not self._improves(value):
            return
        self.best = float(value)
        self.weights.save(self.path)
        write_json({"monitor": self.monitor, "value": self.best, "epoch": epoch + 1},
                   self.record)


class EpochCheckpoints(keras.callbacks.Callback):
    """Writes `epoch-NNN.weights.h5` after every epoch and keeps the last `keep`.

    `paths()` lists them oldest first, for `ModelWeights.save_average`.
    """

    def __init__(self, weights, directory, keep):
        super().__init__()
        self.weights = weights
        self.directory = directory
        self.keep = keep

    def paths(self):
        names = sorted(n for n in os.listdir(self.directory)
                       if n.startswith("epoch-") and n.endswith(".weights.h5"))
        return [os.path.join(self.directory, n) for n in names]

    def on_epoch_end(self, epoch, logs=None):
        self.weights.save(os.path.join(self.directory, f"epoch-{epoch + 1:03d}.weights.h5"))
        for old in self.paths()[: -self.keep]:
            os.remove(old)


class BleuEvaluation(keras.callbacks.Callback):
    """Adds corpus BLEU (sacreBLEU) on a validation sample to the epoch logs.

    Put it before the callbacks that read the logs (checkpoints, CSV,
    TensorBoard, early stopping).

    Args:
        translate: callable, list of source strings -> list of translations.
        sources: list of source sentences.
        references: list of reference translations, same length.
        every_epochs: int, score after every N-th epoch.
        name: key of the logs.
    """

    def __init__(self, translate, sources, references, every_epochs=1, name="val_bleu"):
        super().__init__()
        if len(sources) != len(references):
            raise ValueError(
                f"{len(sources)} sources but {len(references)} references for BLEU."
            )
        self.translate = translate
        self.sources = list(sources)
        self.references = list(references)
        self.every_epochs = every_epochs
        self.name = name

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs or logs is None:
            return
        import sacrebleu

        hypotheses = self.translate(self.sources)
        logs[self.name] = sacrebleu.corpus_bleu(hypotheses, [self.references]).score


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))


class CSVLog(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger` with columns that survive a resume.

    Keras takes the columns from the first epoch's logs of each process; an
    epoch without the BLEU column would then drop it, or, when appending after a
    restart, write rows that do not match the header. Here the columns are that
    first epoch's keys plus `extra_keys`, sorted, in every process.
    """

    def __init__(self, filename, extra_keys=()):
        super().__init__(filename, append=True)
        self.extra_keys = tuple(extra_keys)

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted(set(logs or {}) | set(self.extra_keys))
        super().on_epoch_end(epoch, logs)
