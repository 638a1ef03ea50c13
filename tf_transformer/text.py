"""Plain-text rules shared by the commands, the data readers and the SavedModel.

- Lines: a text splits into lines on "\\n" only (a "\\r" before it goes too), never on
  the other characters `str.splitlines` takes for line breaks (form feed, lone "\\r",
  U+2028...), so translations stay aligned with their input lines; a leading byte order
  mark is dropped.
- Blank: a text holding only separators (spaces, NBSP, U+3000...), control and
  invisible format characters reads as nothing; its translation is empty. The CLI and
  the SavedModel apply the same rule in the graph (`BLANK_PATTERN`, RE2;
  `decoding.sources`).
"""

import unicodedata

BOM = "\ufeff"
# Unicode general categories of the characters that show nothing.
BLANK_CATEGORIES = ("Zs", "Zl", "Zp", "Cc", "Cf")
# The blank rule for `tf.strings.regex_full_match` (RE2 knows the categories).
BLANK_PATTERN = "[" + "".join(rf"\p{{{category}}}" for category in BLANK_CATEGORIES) + "]*"
# Controls and separators that would break or hide a line; joiners stay (they shape
# letters inside words, e.g. Persian's zero-width non-joiner).
_TO_SPACE = ("Cc", "Cf", "Zl", "Zp")
_JOINERS = "\u200c\u200d"


def clean_line(line: str) -> str:
    """`line` with every control, format and line/paragraph separator character
    (form feed, vertical tab, "\\r", U+001C-U+001E, U+0085, U+2028, U+2029, a BOM...)
    replaced by a space; zero-width (non-)joiners are kept."""
    if line.isprintable():  # the common case; also False for NBSP, which stays
        return line
    return "".join(" " if unicodedata.category(c) in _TO_SPACE and c not in _JOINERS else c
                   for c in line)


def split_lines(text: str) -> list:
    """The lines of `text`, each cleaned (`clean_line`): one entry per "\\n"-ended line
    (a last line without "\\n" counts too), one "\\r" before each "\\n" dropped, a
    leading BOM dropped."""
    lines = text.removeprefix(BOM).split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    return [clean_line(line.removesuffix("\r")) for line in lines]


def read_lines(binary_file) -> list:
    """`split_lines` of a binary file object's UTF-8 text; invalid bytes become U+FFFD."""
    return split_lines(binary_file.read().decode("utf-8", errors="replace"))
