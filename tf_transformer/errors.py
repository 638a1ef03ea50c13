"""Mistakes a user can fix (a missing file, a bad config value, an unknown split).

`tf-transformer` prints them as one line, `tf-transformer: error: MESSAGE`, and exits
with status 2; `--debug` shows the traceback.
"""


class UserError(Exception):
    """A mistake the user can fix; the message says what to do."""
