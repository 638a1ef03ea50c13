"""Files and folders written beside their destination and renamed into place.

A process killed at any moment (even by SIGKILL) leaves either the old or the new
version of a path, never half of one; what else it may leave is a hidden `.tmp-*`
name in the same folder, which readers ignore (TF Serving too) and which is safe to
delete. Temporary names are unique per call, so concurrent writers never share one.
New files and folders get the modes the umask allows, like any `open` or `mkdir`.

Example:
  >>> replace_file(model.save_weights, "run/model.weights.h5")
  >>> with replaced_dir("run/backup/state-000000200") as tmp:
  ...     write_json({"batches_done": 200}, os.path.join(tmp, "progress.json"))
"""

import contextlib
import json
import os
import secrets
import shutil

TMP_PREFIX = ".tmp-"


def temp_path(path: str) -> str:
    """A new hidden name beside `path` that ends like it (Keras checks ".keras",
    ".weights.h5"): `.tmp-<pid>-<random>-<name>`."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{name}")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def replace_file(write, path: str) -> None:
    """Calls `write(tmp_path)` on a temporary name beside `path`, then renames it to
    `path`; on any error the temporary file is removed and `path` is left as it was."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically."""

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    replace_file(write, path)


def write_text(path: str, text: str) -> None:
    """Writes `text` (UTF-8, line ends as given) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(value, path: str) -> None:
    """Writes `value` as indented JSON (UTF-8, non-ASCII kept, a final newline) to
    `path` atomically."""
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def make_temp_dir(path: str) -> str:
    """Creates an empty folder under a new temporary name beside `path`; returns it.

    Unlike `tempfile.mkdtemp` (always 0700), its mode is what the umask allows.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = temp_path(path)
    os.mkdir(tmp)
    return tmp


def replace_dir(tmp: str, path: str) -> None:
    """Renames the folder `tmp` to `path`; an existing `path` is first moved aside to
    a temporary name and deleted only once `tmp` is in its place."""
    if not os.path.exists(path):
        os.rename(tmp, path)
        return
    trash = temp_path(path)
    os.rename(path, trash)
    os.rename(tmp, path)
    shutil.rmtree(trash)


@contextlib.contextmanager
def replaced_dir(path: str):
    """Yields a new temporary folder beside `path`; when the block ends without an
    error it replaces `path` (`replace_dir`), else it is deleted."""
    tmp = make_temp_dir(path)
    try:
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def remove_temporaries(folder: str) -> None:
    """Deletes the `.tmp-*` leftovers of writes killed in `folder` (call only while no
    other process writes there)."""
    for name in os.listdir(folder):
        if name.startswith(TMP_PREFIX):
            _remove(os.path.join(folder, name))
