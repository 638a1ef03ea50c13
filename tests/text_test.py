import sys
import unicodedata

import pytest
import tensorflow as tf

from tf_transformer import text

# Every character Python's str.splitlines splits on, besides "\n".
SPLITLINES_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def test_split_lines_splits_on_newline_only():
    assert all(len(("a" + c + "b").splitlines()) == 2 for c in SPLITLINES_BREAKS)
    source = text.BOM + "a\r\n" + "".join(f"x{c}y\n" for c in SPLITLINES_BREAKS) + "\n\r\nlast"
    lines = text.split_lines(source)
    assert lines == ["a"] + ["x y"] * len(SPLITLINES_BREAKS) + ["", "", "last"]
    assert text.split_lines("a\n") == ["a"] and text.split_lines("") == []
    assert text.split_lines("a\r\r\n") == ["a "]  # one "\r" belongs to the line break


def test_clean_line_keeps_printable_text_spaces_and_joiners():
    kept = "Ein Kind\u00a0spielt\u3000im Park. \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001F468\u200d\U0001F469"
    assert text.clean_line(kept) == kept
    assert text.clean_line("a\tb\u200bc\ufeffd\x00e") == "a b c d e"


def is_blank(string: str) -> bool:
    """The blank rule from Python's own Unicode tables, the reference for RE2's."""
    return all(unicodedata.category(c) in text.BLANK_CATEGORIES for c in string)


def test_the_blank_pattern_follows_the_unicode_categories():
    blank = ["", " ", "\u00a0", "\u3000 \t", "\u200b\u2028", "\r\x0c"]
    shown = ["a", " . ", "\u00a0x", "\ufffd", "\U0001F600"]
    assert all(map(is_blank, blank)) and not any(map(is_blank, shown))
    # Every code point of the blank categories, and their neighbours, agree in both.
    points = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i < 0xE000
              and unicodedata.category(chr(i)) in text.BLANK_CATEGORIES]
    samples = blank + shown + points + [p + "a" for p in points[::50]]
    graph = tf.strings.regex_full_match(tf.constant(samples), text.BLANK_PATTERN).numpy()
    assert list(graph) == [is_blank(s) for s in samples]


@pytest.mark.parametrize("data, expected", [
    (b"\xef\xbb\xbfEin Kind\x0cspielt.\nEin Mann\rl\xc3\xa4uft.\n",
     ["Ein Kind spielt.", "Ein Mann läuft."]),
    (b"\xff ok\r\n", ["\ufffd ok"]),
])
def test_read_lines_decodes_utf8_and_replaces_bad_bytes(tmp_path, data, expected):
    (tmp_path / "in").write_bytes(data)
    with open(tmp_path / "in", "rb") as f:
        assert text.read_lines(f) == expected
