"""Reading TSV and aligned files, and every bad-data case of docs/own_data.md."""

import gzip

import pytest

from tf_transformer.data import text_files
from tf_transformer.data.text_files import BadDataError, FilesCorpus, Report, parts, read_pairs
from tf_transformer.errors import UserError


def write(path, data: bytes):
    path.write_bytes(data)
    return str(path)


def read(spec, split="train"):
    report = Report()
    return list(read_pairs(parts(spec, split), report)), report


def test_tsv_gz_glob_and_aligned_files_give_the_same_pairs(tmp_path):
    pairs = [("Olá mundo.", "Hello world."), ("Um gato.", "A cat.")]
    tsv = "".join(f"{s}\t{t}\n" for s, t in pairs).encode()
    write(tmp_path / "a.tsv", tsv)
    with gzip.open(tmp_path / "b.tsv.gz", "wb") as f:
        f.write(tsv)
    write(tmp_path / "c.pt", "".join(s + "\n" for s, _ in pairs).encode())
    write(tmp_path / "c.en", "".join(t + "\n" for _, t in pairs).encode())
    assert read(str(tmp_path / "a.tsv"))[0] == pairs
    assert read(str(tmp_path / "*.tsv*"))[0] == pairs * 2  # sorted: a.tsv, b.tsv.gz
    assert read([str(tmp_path / "c.pt"), str(tmp_path / "c.en")])[0] == pairs
    assert read([str(tmp_path / "b.tsv.gz"), [str(tmp_path / "c.pt"), str(tmp_path / "c.en")]]
                )[0] == pairs * 2


def test_leading_bom_and_crlf_are_removed(tmp_path):
    path = write(tmp_path / "bom.tsv", "\ufeffa b\tc d\r\ne\tf\r\n".encode())
    assert read(path)[0] == [("a b", "c d"), ("e", "f")]


def test_control_characters_inside_a_line_read_as_spaces_and_never_split_it(tmp_path):
    # Form feed, lone CR, U+2028 and U+0085 would each break `str.splitlines`.
    tsv = write(tmp_path / "c.tsv", "a\fb\tc\rd\ne\u2028f\tg\x85h\n".encode())
    aligned = [write(tmp_path / "c.x", "a\fb\ne\u2028f\n".encode()),
               write(tmp_path / "c.y", "c\rd\ng\x85h\n".encode())]
    expected = [("a b", "c d"), ("e f", "g h")]
    assert read(tsv)[0] == expected
    assert read(aligned)[0] == expected
    assert text_files.read_aligned_texts(*aligned) == (["a b", "e f"], ["c d", "g h"])


def test_bad_lines_are_skipped_counted_and_located(tmp_path):
    path = write(tmp_path / "bad.tsv", b"".join([
        b"good\tline\n" * 60,
        b"no tab\n",                     # line 41
        b"two\ttabs\there\n",            # 62
        b"\tempty source\n",             # 63
        b"empty target\t  \n",           # 64
        b"caf\xe9\tlatin-1\n",           # 65: not UTF-8
    ]))
    pairs, report = read(path)
    assert pairs == [("good", "line")] * 60
    assert report.pairs == 60 and report.bad == 5
    assert report.skipped == {"not exactly one tab": 2, "empty source": 1, "empty target": 1,
                              "invalid UTF-8": 1}
    assert report.examples == [f"{path}:61: not exactly one tab",
                               f"{path}:62: not exactly one tab", f"{path}:63: empty source",
                               f"{path}:64: empty target", f"{path}:65: invalid UTF-8"]
    report.check("train")  # 5 of 65 lines: under the 10 % limit
    assert "5 lines skipped" in report.summary()


def test_aligned_files_skip_invalid_utf8_and_empty_lines(tmp_path):
    source = write(tmp_path / "x.pt", b"um\n\ndois\ntr\xeas\n")
    target = write(tmp_path / "x.en", b"one\ntwo\n\nthree\n")
    pairs, report = read([source, target])
    assert pairs == [("um", "one")]
    assert report.skipped == {"empty source": 1, "empty target": 1, "invalid UTF-8": 1}
    assert report.examples[-1] == f"{source}:4: invalid UTF-8"


def test_aligned_files_of_different_lengths_are_an_error_naming_both_counts(tmp_path):
    source = write(tmp_path / "x.pt", b"um\ndois\ntres\n")
    target = write(tmp_path / "x.en", b"one\ntwo\n")
    with pytest.raises(BadDataError, match=f"{source} has 3 lines but {target} has 2"):
        read([source, target])


def test_a_missing_file_is_an_error_naming_its_resolved_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=f"{tmp_path / 'corpus' / 'nope.tsv'} not found"):
        parts("corpus/nope.tsv", "train")
    with pytest.raises(BadDataError, match=f"{tmp_path / 'none-'}\\*.tsv not found"):
        parts("none-*.tsv", "train")
    write(tmp_path / "x.pt", b"a\n")
    with pytest.raises(BadDataError, match=f"{tmp_path / 'x.en'} not found"):
        parts(["x.pt", "x.en"], "validation")


def test_a_mostly_bad_split_is_refused(tmp_path):
    path = write(tmp_path / "commas.tsv", b"a,b\n" * 9 + b"a\tb\n")
    _, report = read(path)
    with pytest.raises(BadDataError, match="Split 'train': 9 of 10 lines are bad"):
        report.check("train")
    assert text_files.MAX_BAD_FRACTION == 0.1


def test_files_corpus_needs_languages_train_and_validation(tmp_path):
    path = write(tmp_path / "a.tsv", b"a\tb\n")
    corpus = FilesCorpus({"train": path, "validation": path, "test_2024": path}, "xx", "yy")
    assert corpus.split_names == ["train", "validation", "test_2024"]
    assert corpus.test_splits == ["test_2024"]
    assert corpus.texts("test_2024") == (["a"], ["b"])
    with pytest.raises(UserError, match="this run's splits are train, validation, test_2024"):
        corpus.texts("test")
    with pytest.raises(BadDataError, match="missing: validation"):
        FilesCorpus({"train": path}, "xx", "yy")
    with pytest.raises(BadDataError, match="needs data.source_language"):
        FilesCorpus({"train": path, "validation": path}, "xx", None)


def test_pairs_streams_the_split_as_a_dataset(tmp_path):
    rows = [(f"s{i}", f"t{i}") for i in range(2500)]  # more than one generator chunk
    path = write(tmp_path / "a.tsv", "".join(f"{s}\t{t}\n" for s, t in rows).encode())
    corpus = FilesCorpus({"train": path, "validation": path}, "xx", "yy")
    got = [(s.decode(), t.decode()) for s, t in corpus.pairs("train").as_numpy_iterator()]
    assert got == rows
