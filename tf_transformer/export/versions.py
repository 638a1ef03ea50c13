"""TF Serving's `NAME/VERSION/` layout, written atomically.

TF Serving polls `saved_models/NAME/` and loads every child whose name parses as an
integer (`safe_strto64`: digits, an optional sign, surrounding spaces) as a version.
So a version is written under a hidden, non-numeric temporary name in the same
folder (same file system, so the final `os.rename` is atomic) and renamed into
place only once complete: a crash or an error leaves no numbered folder behind,
only a `.tmp-*` folder that TF Serving ignores and that is safe to delete.

Example:
  >>> with new_version_dir("saved_models/multi30k_de_en") as (tmp_dir, version):
  ...     tf.saved_model.save(module, tmp_dir)
  >>> # now saved_models/multi30k_de_en/<version>/ exists, complete
"""

import contextlib
import os
import re
import shutil
import tempfile

# What TF Serving's ParseVersionNumber (strings::safe_strto64) accepts.
_VERSION_NAME = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
TMP_PREFIX = ".tmp-"


def parse_version(name: str):
    """The version number TF Serving reads from a child's name, or None."""
    return int(name) if _VERSION_NAME.fullmatch(name) else None


def servable_dir(output_dir: str, name: str) -> str:
    """`output_dir/name`, the folder TF Serving is pointed at (`--model_base_path`)."""
    if not name or os.sep in name or name.startswith("."):
        raise ValueError(f"A servable name is one plain folder name, got {name!r}.")
    return os.path.join(output_dir, name)


def existing_versions(base_dir: str) -> dict:
    """{version number: child name} of `base_dir` (empty if it does not exist)."""
    if not os.path.isdir(base_dir):
        return {}
    versions = {}
    for name in os.listdir(base_dir):
        number = parse_version(name)
        if number is not None:
            versions[number] = name
    return versions


def next_version(base_dir: str) -> int:
    """One more than the highest existing version; 1 for a new servable."""
    return max(existing_versions(base_dir), default=0) + 1


@contextlib.contextmanager
def new_version_dir(base_dir: str, version: int | None = None, overwrite: bool = False):
    """Yields `(tmp_dir, version)`; on success renames tmp_dir to `base_dir/version`.

    Args:
      base_dir: the servable's folder, `saved_models/NAME` (created if needed).
      version: a positive integer, default `next_version(base_dir)`.
      overwrite: replace an existing folder of that version number (by default an
        existing version is an error: TF Serving may be serving it).

    Raises:
      FileExistsError: the version exists and `overwrite` is False (checked before
        anything is written, and again at the rename in case another export won).
      ValueError: `version` is not a positive integer.
    """
    version = resolve_version(base_dir, version, overwrite)
    os.makedirs(base_dir, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{version}-", dir=base_dir)
    try:
        yield tmp_dir, version
        _check_free(base_dir, version, overwrite)
        old = existing_versions(base_dir).get(version)
        if old is not None:  # overwrite: move the old one aside first, then drop it
            trash = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}old-{version}-", dir=base_dir)
            os.rename(os.path.join(base_dir, old), os.path.join(trash, old))
            os.rename(tmp_dir, os.path.join(base_dir, str(version)))
            shutil.rmtree(trash)
        else:
            os.rename(tmp_dir, os.path.join(base_dir, str(version)))
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def resolve_version(base_dir: str, version: int | None = None, overwrite: bool = False) -> int:
    """The version to write: `version` (checked) or the next one; see `new_version_dir`.

    Cheap, so a command can call it before slow work (loading a model) to fail early.
    """
    version = next_version(base_dir) if version is None else version
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"A TF Serving version is a positive integer, got {version!r}.")
    _check_free(base_dir, version, overwrite)
    return version


def _check_free(base_dir, version, overwrite):
    existing = existing_versions(base_dir).get(version)
    if existing is not None and not overwrite:
        raise FileExistsError(
            f"Version {version} already exists: {os.path.join(base_dir, existing)}. "
            "Choose another --version (default: the next free one) or pass --overwrite.")


def replace_file_atomically(write, path: str) -> None:
    """Calls `write(tmp_path)` on a hidden file beside `path`, then renames it to `path`.

    The temporary name keeps `path`'s suffix (`.tmp-3.keras`), which Keras requires.
    """
    folder, name = os.path.split(path)
    os.makedirs(folder or ".", exist_ok=True)
    tmp = os.path.join(folder, f"{TMP_PREFIX}{name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
