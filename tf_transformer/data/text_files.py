"""Sentence pairs from text files: TSV (source<TAB>target) or two aligned files.

What a split names in the run config (`data.splits`, `data.source: files`):
- a TSV path or glob, e.g. `corpus/train.tsv` or `corpus/train-*.tsv.gz`;
- `[source_file, target_file]`: two aligned files, line i of one translates line i of
  the other (two paths, neither ending in `.tsv` / `.tsv.gz`);
- a list of several such entries (TSV paths or globs, `[source_file, target_file]`
  pairs), read in the order given.
`.gz` files are decompressed on the fly. Relative paths are resolved by the run config
(relative to the config file).

Bad data (docs/own_data.md, "Bad data"):
- a missing file or a glob that matches nothing, and aligned files with different line
  counts, are errors (`BadDataError`, naming the resolved paths and both counts): a
  shifted alignment would silently teach the model wrong translations;
- a line that is not valid UTF-8, a TSV line without exactly one tab, and a pair with
  an empty source or target (after stripping surrounding whitespace) are skipped and
  counted; the first few are reported by file:line. A leading byte-order mark is
  removed. When more than `MAX_BAD_FRACTION` of a split's lines are bad, or none is
  good, the split is an error: the file is most likely not what the config says.

Lines are split on "\\n" only (a stray "\\r" is stripped with the other whitespace);
other control characters inside a line read as spaces (`tf_transformer.text`).
"""

import dataclasses
import glob
import gzip
import itertools
import logging
import os
from collections.abc import Iterator

from tf_transformer.data.corpus import REQUIRED_SPLITS, Corpus
from tf_transformer.errors import UserError
from tf_transformer.text import BOM, clean_line

logger = logging.getLogger(__name__)

# A split whose bad lines exceed this fraction is refused instead of trained on.
MAX_BAD_FRACTION = 0.1
# Problems quoted by file:line in a report; the rest are only counted.
EXAMPLES = 5


class BadDataError(UserError, ValueError):
    """A corpus file is missing, misaligned or mostly unreadable."""


@dataclasses.dataclass
class Report:
    """What reading a split found: good pairs, skipped lines by reason, first examples."""

    pairs: int = 0
    skipped: dict = dataclasses.field(default_factory=dict)  # reason -> count
    examples: list = dataclasses.field(default_factory=list)  # "file:line: reason"

    def skip(self, path: str, line: int, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{path}:{line}: {reason}")

    @property
    def bad(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """One line, e.g. "990 pairs, 10 lines skipped (empty target: 10; first: f:3: ...)"."""
        if not self.bad:
            return f"{self.pairs} pairs"
        reasons = "; ".join(f"{reason}: {count}" for reason, count in sorted(self.skipped.items()))
        return (f"{self.pairs} pairs, {self.bad} lines skipped ({reasons}; first: "
                f"{', '.join(self.examples)})")

    def check(self, split: str) -> None:
        """Raises `BadDataError` when the split has no good pair or too many bad lines."""
        total = self.pairs + self.bad
        if self.pairs == 0 or self.bad > MAX_BAD_FRACTION * total:
            raise BadDataError(
                f"Split {split!r}: {self.bad} of {total} lines are bad ({self.summary()}). "
                "Check that the files are UTF-8 text with one source<TAB>target pair per line "
                "(TSV) or one sentence per line (aligned files), as docs/own_data.md describes.")


def is_tsv(path: str) -> bool:
    return path.endswith((".tsv", ".tsv.gz"))


def parts(spec, split: str) -> list:
    """The files of a split as a list of parts: (tsv_path,) or (source_path, target_path).

    Globs are expanded (sorted); a path or glob that matches nothing is a `BadDataError`.
    """
    if isinstance(spec, str):
        entries = [spec]
    elif (isinstance(spec, (list, tuple)) and len(spec) == 2
          and all(isinstance(p, str) and not is_tsv(p) for p in spec)):
        entries = [list(spec)]
    elif isinstance(spec, (list, tuple)) and spec:
        entries = list(spec)
    else:
        raise BadDataError(
            f"data.splits.{split} must be a TSV path (or glob), [source_file, target_file], "
            f"or a list of those; got {spec!r}.")
    result = []
    for entry in entries:
        if isinstance(entry, str):
            result += [(path,) for path in _existing(entry, f"data.splits.{split}")]
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            result.append(tuple(_existing(path, f"data.splits.{split}", glob_ok=False)[0]
                                for path in entry))
        else:
            raise BadDataError(
                f"data.splits.{split}: {entry!r} is neither a TSV path nor "
                "[source_file, target_file].")
    return result


def _existing(pattern: str, what: str, glob_ok: bool = True) -> list:
    """The files `pattern` names (a glob: sorted matches); `what` names it in the error."""
    if glob_ok and glob.has_magic(pattern):
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches
    elif os.path.isfile(pattern):
        return [pattern]
    raise BadDataError(f"{what}: {os.path.abspath(pattern)} not found. Check the path "
                       "(relative paths in a run config are relative to the config file).")


def _lines(path: str) -> Iterator[bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        for line in f:
            yield line.rstrip(b"\n")


def _decode(line: bytes, path: str, number: int, report: Report) -> str | None:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        report.skip(path, number, "invalid UTF-8")
        return None
    return text.removeprefix(BOM) if number == 1 else text


def _pair(source: str | None, target: str | None, where: tuple, report: Report):
    if source is None or target is None:
        return None  # already counted
    # Control characters inside a line (form feed, U+2028...) read as spaces, as in
    # `tf-transformer translate` (`tf_transformer.text`).
    source, target = clean_line(source).strip(), clean_line(target).strip()
    if not source or not target:
        report.skip(*where, "empty source" if not source else "empty target")
        return None
    report.pairs += 1
    return source, target


def _read_tsv(path: str, report: Report) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(_lines(path), start=1):
        text = _decode(line, path, number, report)
        if text is None:
            continue
        fields = text.split("\t")
        if len(fields) != 2:
            report.skip(path, number, "not exactly one tab")
            continue
        pair = _pair(fields[0], fields[1], (path, number), report)
        if pair:
            yield pair


def _read_aligned(source_path: str, target_path: str, report: Report):
    for number, (source, target) in enumerate(
            itertools.zip_longest(_lines(source_path), _lines(target_path)), start=1):
        if source is None or target is None:
            counts = [sum(1 for _ in _lines(path)) for path in (source_path, target_path)]
            raise BadDataError(
                f"{source_path} has {counts[0]} lines but {target_path} has {counts[1]}: "
                "line i of one must translate line i of the other. Fix the files (a "
                "missing or extra line shifts every later pair).")
        source, target = (_decode(line, path, number, report) for line, path in
                          ((source, source_path), (target, target_path)))
        pair = _pair(source, target, (source_path, number), report)
        if pair:
            yield pair


def read_pairs(split_parts: list, report: Report | None = None) -> Iterator[tuple[str, str]]:
    """Yields the good (source, target) pairs of `parts(...)`, counting the bad lines in
    `report` (a fresh one if None)."""
    report = report if report is not None else Report()
    for part in split_parts:
        if len(part) == 1:
            yield from _read_tsv(part[0], report)
        else:
            yield from _read_aligned(*part, report)


def read_aligned_texts(source_path: str, target_path: str) -> tuple[list, list]:
    """(sources, targets) of two aligned files (`tf-transformer evaluate --source
    --reference`), with the bad-line policy above; skipped lines are logged."""
    part = (_existing(source_path, "--source", glob_ok=False)[0],
            _existing(target_path, "--reference", glob_ok=False)[0])
    report = Report()
    pairs = list(read_pairs([part], report))
    report.check("--source/--reference")
    if report.bad:
        logger.warning("%s", report.summary())
    return [s for s, _ in pairs], [t for _, t in pairs]


class FilesCorpus(Corpus):
    """`data.source: files`: each split is TSV files or aligned files (module docstring).

    Args:
        splits: dict, split name -> spec (see `parts`); train and validation required.
        source_language, target_language: str codes.
    """

    def __init__(self, splits: dict, source_language: str, target_language: str):
        missing = [name for name in REQUIRED_SPLITS if name not in (splits or {})]
        if missing or not source_language or not target_language:
            raise BadDataError(
                "data.source=files needs data.source_language, data.target_language and "
                f"data.splits with at least {' and '.join(REQUIRED_SPLITS)} (missing: "
                f"{', '.join(missing) or 'the languages'}); see docs/own_data.md.")
        self.source_language, self.target_language = source_language, target_language
        self._parts = {name: parts(spec, name) for name, spec in splits.items()}
        self.split_names = list(REQUIRED_SPLITS) + [
            name for name in splits if name not in REQUIRED_SPLITS]

    def iter_pairs(self, split, report=None):
        self.check_split(split)
        return read_pairs(self._parts[split], report)
