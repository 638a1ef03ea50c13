"""Builds, compiles and fits a `Transformer` from a run config.

`train(config, run_dir)` is what `tf-transformer train` runs; `build_training_model`
and `compile_model` are the pieces benchmarks and tests reuse (the plain model comes
from `tf_transformer.artifacts.build_model`). The run directory it writes is laid
out as `tf_transformer.artifacts` describes.

Running the same command again resumes from RUN/backup (after a crash, or with
more `training.epochs`); any other change of the config is refused.
"""

import dataclasses
import itertools
import os
import shutil
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tf_transformer import atomic
from tf_transformer.artifacts import CONFIG_FILE, SAMPLE_INPUTS, WEIGHTS_FILE, build_model
from tf_transformer.data.prepare import prepare_run, resolve_languages
from tf_transformer.training import callbacks as cb
from tf_transformer.training import config as run_config
from tf_transformer.training import precision
from tf_transformer.training.config import ConfigError, RunConfig
from tf_transformer.training.distribute import (
    is_chief, is_multi_worker, make_strategy, patch_multi_worker_metrics, worker_index)
from tf_transformer.training.lock import run_lock
from tf_transformer.training.losses import MaskedCrossEntropy
from tf_transformer.training.metrics import MaskedAccuracy, Perplexity
from tf_transformer.training.optim import make_optimizer
from tf_transformer.training.packed_step import TrainingTransformer

def build_training_model(config: RunConfig, src_vocab_size: int,
                         tgt_vocab_size: int) -> TrainingTransformer:
    """The model `train` fits, its variables created: `artifacts.build_model`'s
    architecture with the training's padding removal, which needs dynamic shapes, so
    XLA (`training.jit_compile`) turns it off."""
    return build_model(
        config.model, src_vocab_size, tgt_vocab_size, model_class=TrainingTransformer,
        remove_padding=config.training.remove_padding and not config.training.jit_compile)


def compile_model(model: keras.Model, config: RunConfig,
                  steps_per_epoch: Optional[int] = None) -> None:
    """Compiles `model` (built) with the loss, metrics, optimizer and XLA setting of
    `config`, and creates the optimizer's slots. `steps_per_epoch` (batches) sets the
    length of the `cosine` schedule with `training.epochs`.

    Under `mixed_float16` Keras wraps the optimizer in a `LossScaleOptimizer`.
    """
    model.compile(
        optimizer=make_optimizer(
            config.optimizer,
            steps_per_epoch and steps_per_epoch * config.training.epochs),
        loss=MaskedCrossEntropy(config.training.label_smoothing),
        metrics=[MaskedAccuracy(), Perplexity()],
        jit_compile=config.training.jit_compile,
    )
    # Slots created inside the first train step would make TensorFlow trace it twice.
    model.optimizer.build(model.trainable_variables)
    if is_multi_worker(model.distribute_strategy):
        patch_multi_worker_metrics(model)


def _prepare_run_dir(config: RunConfig, run_dir: str) -> None:
    """Creates `run_dir` with `config.yaml`, or checks that it holds the same run.

    Only `training.epochs` may change between a run and its continuation.
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CONFIG_FILE)
    if os.path.exists(path):
        previous = run_config.load(path)
        same_epochs = dataclasses.replace(
            previous, training=dataclasses.replace(previous.training, epochs=config.training.epochs))
        if same_epochs != config:
            old, new = previous.to_dict(), config.to_dict()
            changed = [f"{section}.{key}: {old[section][key]!r} -> {new[section][key]!r}"
                       for section in new for key in new[section]
                       if old[section][key] != new[section][key]]
            raise ConfigError(
                f"{run_dir} holds a run with another config ({'; '.join(changed)}). "
                "Only training.epochs may change when a run is continued; choose a new "
                "--run-dir for a new run."
            )
    run_config.dump(config, path)


def _datasets(config: RunConfig, run_dir: str):
    """(config with its languages, corpus, (source tokenizer, target tokenizer), a
    function that makes the training dataset, validation dataset)."""
    from tf_transformer.data.pipeline import make_dataset

    # The tokenizers are written into the run so that decoding and export never
    # depend on a cache; `tf-transformer prepare` leaves them there already.
    config, corpus, tokenizers, _ = prepare_run(config, run_dir)
    data = config.data
    batching = dict(max_length=data.max_length)
    if data.max_tokens:
        batching["max_tokens"] = data.max_tokens
    else:
        batching["batch_size"] = data.batch_size
    # Only Multi30k (29,000 pairs) is cached in memory; other corpora may be any size
    # and are streamed from their files every epoch.
    cache = data.source == "multi30k"
    # Under MultiWorkerMirroredStrategy each worker builds the same seeded sequence of
    # batches, tf.distribute splits every batch over the replicas and each worker keeps
    # its pieces: disjoint pairs, the same number of steps on every worker (sharding
    # by file would fail on a one-file TFDS split and give workers uneven shares).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA

    def make_train():
        # A new dataset each time: its seeded shuffles start their sequence of epochs
        # afresh, so the n-th batch is the same in every call and every process.
        return make_dataset(corpus.pairs("train"), *tokenizers, shuffle=True,
                            seed=config.training.seed, shuffle_buffer_size=data.shuffle_buffer,
                            cache=cache, **batching).with_options(options)

    validation = make_dataset(corpus.pairs("validation"), *tokenizers, cache=cache, **batching)
    return config, corpus, tokenizers, make_train, validation


def _bleu_callback(config: RunConfig, model, tokenizers, corpus):
    """Validation BLEU of greedy translations of the first `bleu_samples` pairs."""
    from tf_transformer.decoding.translator import Translator

    pairs = list(itertools.islice(corpus.iter_pairs("validation"), config.callbacks.bleu_samples))
    return cb.BleuEvaluation(Translator(model, *tokenizers).translate, [s for s, _ in pairs],
                             [t for _, t in pairs], config.callbacks.bleu_every_epochs)


def _callbacks(config: RunConfig, run_dir: str, model, weights, tokenizers, corpus, backup):
    """The callbacks in the order they must see the epoch logs (BLEU first, backup last)."""
    options = config.callbacks
    checkpoints = os.path.join(run_dir, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    mode = "min" if options.monitor in ("val_loss", "val_perplexity") else "max"
    callbacks = []
    if options.bleu_every_epochs:
        callbacks.append(_bleu_callback(config, model, tokenizers, corpus))
    callbacks.append(cb.LearningRateLogger())
    if options.save_best:
        callbacks.append(cb.BestCheckpoint(
            weights, os.path.join(checkpoints, "best.weights.h5"), options.monitor, mode))
    if options.average_last > 1:
        callbacks.append(cb.EpochCheckpoints(weights, checkpoints, options.average_last))
    if options.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=options.monitor, mode=mode, patience=options.early_stopping_patience))
    callbacks += [
        cb.CSVLog(os.path.join(run_dir, "training_log.csv"),
                  extra_keys=["val_bleu"] if options.bleu_every_epochs else []),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False),
        backup,
    ]
    return callbacks


class _StopAfterOneEpoch(keras.callbacks.Callback):
    """Ends `fit` after its first epoch (a resumed, partial one), so that the
    progress bar still counts epochs out of `training.epochs`."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def _count_batches(dataset) -> int:
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def _write_final_weights(config: RunConfig, run_dir: str, weights, callbacks) -> None:
    path = os.path.join(run_dir, WEIGHTS_FILE)
    choice = config.callbacks.final_weights
    if choice == "last":
        weights.save(path)
    elif choice == "best":
        best = next(c for c in callbacks if isinstance(c, cb.BestCheckpoint))
        atomic.replace_file(lambda tmp: shutil.copyfile(best.path, tmp), path)
    else:
        epochs = next(c for c in callbacks if isinstance(c, cb.EpochCheckpoints))
        weights.save_average(epochs.paths(), path)


def _configure_threads(training) -> None:
    if training.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(training.intra_op_threads)
    if training.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(training.inter_op_threads)


def train(config: RunConfig, run_dir: str, verbose="auto") -> keras.callbacks.History:
    """Trains a model as `config` says and writes everything to `run_dir`.

    Resumes from `run_dir/backup` when it exists: the weights, optimizer state
    and the number of batches trained are restored; a run killed mid-epoch
    finishes that epoch with the number of batches it had left, then goes on.

    Args:
        config: the run config.
        run_dir: output folder (see the module docstring).
        verbose: `model.fit` verbosity ("auto": progress bars).

    Returns:
        The `History` of the last `model.fit` call (None if nothing was left to train).

    Raises:
        RunLockedError: another process is training `run_dir`.
        ConfigError: `run_dir` holds a run with another config.
    """
    if not is_chief():
        # Every worker of a multi-worker run trains the same model; only the chief
        # writes the run directory.
        run_dir = os.path.join(run_dir, "workers", str(worker_index()))
    config = resolve_languages(config)
    with run_lock(run_dir):
        _prepare_run_dir(config, run_dir)
        _configure_threads(config.training)
        previous_policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(
            precision.resolve(config.training.mixed_precision))
        try:
            return _fit(config, run_dir, verbose)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)


def _fit(config: RunConfig, run_dir: str, verbose):
    strategy = make_strategy(config.training.distribution)
    config, corpus, tokenizers, make_train, validation = _datasets(config, run_dir)
    source_tokenizer, target_tokenizer = tokenizers
    steps_per_epoch = config.training.steps_per_epoch or _count_batches(make_train())
    # Keras warns about running out of data when it has to find the end itself.
    validation_steps = config.training.validation_steps or _count_batches(validation)
    # Seeded after the data is ready: building the TFDS dataset (first run only)
    # draws random numbers too.
    keras.utils.set_random_seed(config.training.seed)
    with strategy.scope():
        model = build_training_model(config, source_tokenizer.vocab_size,
                                     target_tokenizer.vocab_size)
        compile_model(model, config, steps_per_epoch)
    weights = cb.ModelWeights(model, SAMPLE_INPUTS)
    backup = cb.TrainingBackup(os.path.join(run_dir, "backup"),
                               config.callbacks.backup_every_steps)
    callbacks = _callbacks(config, run_dir, model, weights, tokenizers, corpus, backup)
    done = backup.restore(model)
    epochs = config.training.epochs
    epoch, batch = divmod(done, steps_per_epoch)
    if done:
        print(f"Resuming {run_dir} after {done} batches: epoch {epoch + 1}, batch {batch} "
              f"of {steps_per_epoch}.", flush=True)
    history = None
    fit = dict(validation_data=validation, validation_steps=validation_steps, shuffle=False,
               callbacks=callbacks, verbose=verbose, steps_per_epoch=steps_per_epoch)

    def stream(start):
        # The stream of shuffled epochs is the same in every process (`make_train`), so
        # a resumed run skips the batches already trained and then sees the very
        # batches the killed run would have seen.
        return make_train().repeat().skip(start)

    if batch:
        # Finish the interrupted epoch with the number of batches it had left, so
        # that epochs (validation, checkpoints) stay where they were.
        history = model.fit(stream(done), initial_epoch=epoch, epochs=epochs,
                            **{**fit, "steps_per_epoch": steps_per_epoch - batch,
                               "callbacks": callbacks + [_StopAfterOneEpoch()]})
        epoch += 1
    stopped_early = any(isinstance(c, keras.callbacks.EarlyStopping) and c.stopped_epoch
                        for c in callbacks)
    if epoch < epochs and not stopped_early:
        history = model.fit(stream(epoch * steps_per_epoch), initial_epoch=epoch,
                            epochs=epochs, **fit)
    _write_final_weights(config, run_dir, weights, callbacks)
    return history
