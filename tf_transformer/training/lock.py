"""One training process per run folder.

`RUN/.lock` holds the process id of the process training RUN, under an exclusive
`flock`. The kernel drops that lock when the process ends, however it ends (even
`kill -9`), so a lock file left by a dead process is simply taken over; only a live
holder refuses a second process, at once, with its pid.
"""

import contextlib
import fcntl
import os

from tf_transformer.errors import UserError

LOCK_FILE = ".lock"


class RunLockedError(UserError):
    """Another live process trains the same run folder."""


@contextlib.contextmanager
def run_lock(run_dir: str):
    """Holds `run_dir`'s lock for the block (creating the folder if needed).

    Raises:
      RunLockedError: another process holds it; the message names its pid.
    """
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, LOCK_FILE), "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise RunLockedError(
                f"{run_dir} is being trained or prepared by another process (pid "
                f"{holder}). Wait for it to end (or stop it) and run the command again, or "
                "choose another --run-dir.") from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield
