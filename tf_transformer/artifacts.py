"""Where a model lives: a training run, an exported version, or the shipped model.

`tf-transformer translate | evaluate | plot --model PATH` accept any of

    RUN/                        a `tf-transformer train` run (has config.yaml)
    saved_models/NAME/VERSION/  an exported version (has saved_model.pb)
    saved_models/NAME/          a servable folder: its highest version

and without --model they use the shipped model, `saved_models/multi30k_de_en` of the
source checkout. It is not part of the wheel (68 MB): an installed wheel looks for it
in the current folder (a checkout) and otherwise asks for --model.

Nothing here imports TensorFlow.
"""

import os
from typing import NamedTuple

from tf_transformer.errors import UserError
from tf_transformer.export.versions import existing_versions

SHIPPED_MODEL = os.path.join("saved_models", "multi30k_de_en")
RUN_CONFIG = "config.yaml"  # of a run (an export has it under assets/)
SAVED_MODEL = "saved_model.pb"
# Where a source checkout (or an editable install) has it.
CHECKOUT_SHIPPED_MODEL = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), SHIPPED_MODEL)
_WHAT_MODEL_TAKES = ("--model takes a training run directory, an export version folder "
                     "(saved_models/NAME/VERSION) or a model folder (saved_models/NAME)")


class ModelLocation(NamedTuple):
    kind: str  # "run" or "export"
    path: str  # the run directory or the version folder


def shipped_model_dir() -> str:
    """The shipped model's folder, from a checkout (editable install) or the current folder."""
    for folder in (CHECKOUT_SHIPPED_MODEL, SHIPPED_MODEL):
        if existing_versions(folder):
            return folder
    raise UserError(
        f"The shipped model ({SHIPPED_MODEL}) comes with the source checkout, not with the "
        "wheel: run this in a clone of the project, or pass --model PATH.")


def locate(path: str | None) -> ModelLocation:
    """The run or export version at `path` (None: the shipped model)."""
    path = shipped_model_dir() if path is None else path
    if not os.path.isdir(path):
        raise UserError(f"{path} is not a folder: {_WHAT_MODEL_TAKES}.")
    if os.path.isfile(os.path.join(path, RUN_CONFIG)):
        return ModelLocation("run", path)
    if os.path.isfile(os.path.join(path, SAVED_MODEL)):
        return ModelLocation("export", path)
    versions = {number: name for number, name in existing_versions(path).items()
                if os.path.isfile(os.path.join(path, name, SAVED_MODEL))}
    if versions:
        return ModelLocation("export", os.path.join(path, versions[max(versions)]))
    raise UserError(f"{path} holds no {RUN_CONFIG} and no {SAVED_MODEL}: {_WHAT_MODEL_TAKES}.")
