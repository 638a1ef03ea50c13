import os

import pytest

from tf_transformer import atomic


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "keras" / "1.keras"
    atomic.write_text(str(path), "first")
    seen = []

    def fail(tmp):
        seen.append(tmp)
        with open(tmp, "w") as f:
            f.write("partial")
        raise OSError("interrupted")

    with pytest.raises(OSError, match="interrupted"):
        atomic.replace_file(fail, str(path))
    assert os.listdir(path.parent) == ["1.keras"] and read(path) == "first"
    # Hidden, in the same folder, with the destination's suffix (Keras checks it).
    name = os.path.basename(seen[0])
    assert os.path.dirname(seen[0]) == str(path.parent)
    assert name.startswith(atomic.TMP_PREFIX) and name.endswith("-1.keras")


def test_temporary_names_are_unique(tmp_path):
    path = str(tmp_path / "state.weights.h5")
    assert len({atomic.temp_path(path) for _ in range(100)}) == 100


def test_a_replaced_folder_is_whole_or_untouched_and_has_the_umask_mode(tmp_path):
    path = tmp_path / "state-1"
    previous = os.umask(0o022)
    try:
        with atomic.replaced_dir(str(path)) as tmp:
            atomic.write_json({"n": 1}, os.path.join(tmp, "progress.json"))
    finally:
        os.umask(previous)
    assert os.stat(path).st_mode & 0o777 == 0o755
    with pytest.raises(RuntimeError):
        with atomic.replaced_dir(str(path)) as tmp:
            atomic.write_text(os.path.join(tmp, "progress.json"), "{\"n\": 2")
            raise RuntimeError("killed")
    assert read(path / "progress.json") == '{\n  "n": 1\n}\n'
    with atomic.replaced_dir(str(path)) as tmp:
        atomic.write_text(os.path.join(tmp, "other.txt"), "2")
    assert os.listdir(path) == ["other.txt"] and os.listdir(tmp_path) == ["state-1"]


def test_json_keeps_non_ascii_text_and_bytes_are_written_as_given(tmp_path):
    atomic.write_json({"warmup": ["Ein Mädchen läuft."]}, str(tmp_path / "data.json"))
    assert (tmp_path / "data.json").read_bytes() == (
        '{\n  "warmup": [\n    "Ein Mädchen läuft."\n  ]\n}\n'.encode("utf-8"))
    atomic.write_bytes(str(tmp_path / "model"), b"\x00\xff\r\n")
    assert (tmp_path / "model").read_bytes() == b"\x00\xff\r\n"


def test_remove_temporaries_deletes_only_hidden_leftovers(tmp_path):
    atomic.write_text(str(tmp_path / "keep.txt"), "kept")
    leftover_file, leftover_dir = (atomic.temp_path(str(tmp_path / n)) for n in ("a", "b"))
    atomic.write_text(leftover_file, "torn")
    os.mkdir(leftover_dir)
    atomic.remove_temporaries(str(tmp_path))
    assert os.listdir(tmp_path) == ["keep.txt"]
