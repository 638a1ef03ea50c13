"""Writes one version of a servable: SavedModel, assets, warm-up file and a `.keras` copy.

Layout under `output_dir` (default `saved_models/`):

    NAME/
      VERSION/                  the SavedModel TF Serving loads (highest VERSION wins)
        saved_model.pb          signatures of `TranslationModule`, decoding loops inside
        variables/
        assets/                 the SentencePiece models and the run config
        assets.extra/tf_serving_warmup_requests
      keras/VERSION.keras       the same weights for Keras users who fine-tune
                                (an ensemble: VERSION-member1.keras, VERSION-member2.keras...)

TF Serving treats only children with integer names as versions, so `keras/` and the
hidden `.tmp-*` folders of exports in progress are never loaded. Everything of a
version is written first and the version folder is renamed into place last (see
`versions.new_version_dir`); then the `.keras` copy is written (`tf_transformer.atomic`).
"""

import os
from typing import NamedTuple

import tensorflow as tf

from tf_transformer import atomic
from tf_transformer.export.serving import TranslationModule
from tf_transformer.export.versions import new_version_dir, servable_dir
from tf_transformer.export.warmup import write_warmup_file


class ExportResult(NamedTuple):
    version: int
    path: str  # NAME/VERSION, the SavedModel
    keras_paths: tuple  # NAME/keras/VERSION.keras, or one per member of an ensemble


def export(model, source_tokenizer, target_tokenizer, output_dir: str, name: str, *,
           warmup_sentences, version: int | None = None, overwrite: bool = False,
           beam_size: int = 4, alpha: float = 0.6, assets=(),
           jit_compile: bool = False) -> ExportResult:
    """Exports `model` and its tokenizers as `output_dir/name/VERSION`.

    Args:
      model: a built `Transformer`, or an `Ensemble` of them.
      source_tokenizer, target_tokenizer: the run's `Tokenizer`s.
      output_dir: folder of the servables, e.g. "saved_models".
      name: servable name (TF Serving's `--model_name`), e.g. "multi30k_de_en".
      warmup_sentences: source sentences for the warm-up requests.
      version: positive integer; default one more than the highest existing.
      overwrite: replace an existing version instead of failing.
      beam_size, alpha: beam search of the `serving_default` signature.
      assets: extra files for `assets/`, e.g. the run config.
      jit_compile: compile both translate signatures' search with XLA (TF Serving then
        needs `--xla_cpu_compilation_enabled`; see `compiled_search`).

    Returns:
      `ExportResult` with the version number and both paths.
    """
    base_dir = servable_dir(output_dir, name)
    module = TranslationModule(model, source_tokenizer, target_tokenizer,
                               beam_size=beam_size, alpha=alpha, assets=assets,
                               jit_compile=jit_compile)
    with new_version_dir(base_dir, version, overwrite) as (tmp_dir, version):
        tf.saved_model.save(module, tmp_dir, signatures=module.signatures())
        write_warmup_file(tmp_dir, name, warmup_sentences)
    # After the version is in place: a copy never exists without its SavedModel.
    members = getattr(model, "members", None)
    names = ([f"{version}-member{i}" for i in range(1, len(members) + 1)] if members
             else [str(version)])
    keras_paths = tuple(os.path.join(base_dir, "keras", f"{name}.keras") for name in names)
    for member, path in zip(members or [model], keras_paths):
        atomic.replace_file(member.save, path)
    return ExportResult(version, os.path.join(base_dir, str(version)), keras_paths)
