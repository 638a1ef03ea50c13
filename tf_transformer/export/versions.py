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

from tf_transformer import atomic
from tf_transformer.errors import UserError

# What TF Serving's ParseVersionNumber (strings::safe_strto64) accepts.
_VERSION_NAME = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
# TF Serving reads versions as int64.
MAX_VERSION = 2**63 - 1


class VersionError(UserError, ValueError):
    """A version number TF Serving cannot serve."""


class NotAFolderError(UserError, NotADirectoryError):
    """The servable's folder would be inside a file."""


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
      VersionError: `version` is not an integer in [1, 2**63).
      NotAFolderError: `base_dir` or a folder above it is a file.
    """
    version = resolve_version(base_dir, version, overwrite)
    final = os.path.join(base_dir, str(version))
    # Readable as the umask says (TF Serving often runs as another user).
    tmp_dir = atomic.make_temp_dir(final)
    try:
        yield tmp_dir, version
        _check_free(base_dir, version, overwrite)
        old = existing_versions(base_dir).get(version)
        if old is not None and old != str(version):  # e.g. "007": move it aside too
            trash = atomic.make_temp_dir(final)
            os.rename(os.path.join(base_dir, old), os.path.join(trash, old))
            atomic.replace_dir(tmp_dir, final)
            shutil.rmtree(trash)
        else:
            atomic.replace_dir(tmp_dir, final)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def resolve_version(base_dir: str, version: int | None = None, overwrite: bool = False) -> int:
    """The version to write: `version` (checked) or the next one; see `new_version_dir`.

    Cheap, so a command can call it before slow work (loading a model) to fail early.
    """
    _check_folder(base_dir)
    version = next_version(base_dir) if version is None else version
    if not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise VersionError(f"A TF Serving version is an integer from 1 to 2**63 - 1 "
                           f"({MAX_VERSION}), got {version!r}.")
    _check_free(base_dir, version, overwrite)
    return version


def _check_folder(base_dir):
    """Raises `NotAFolderError` if `base_dir` or the nearest existing folder above it is a file."""
    path = os.path.abspath(base_dir)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise NotAFolderError(f"{path} is a file, but the servable {base_dir} needs a folder "
                              "there; choose another --output-dir or --name.")


def _check_free(base_dir, version, overwrite):
    existing = existing_versions(base_dir).get(version)
    if existing is not None and not overwrite:
        raise FileExistsError(
            f"Version {version} already exists: {os.path.join(base_dir, existing)}. "
            "Choose another --version (default: the next free one) or pass --overwrite.")
