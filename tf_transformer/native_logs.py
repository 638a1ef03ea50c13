"""Drops the log lines that TensorFlow's and SentencePiece's C++ code writes to the
stderr file descriptor and that no environment variable turns off.

`TF_CPP_MIN_LOG_LEVEL` silences most of TensorFlow's lines, but not the absl lines
written before absl logging starts (`WARNING: All log messages before
absl::InitializeLog() ...`, `cudart_stub.cc ... Could not find cuda drivers`), the
`failed call to cuInit` error of a CUDA build on a machine without a GPU, nor the
`normalizer.cc LOG(INFO)` lines of the SentencePiece copy inside TensorFlow Text.
`dropped()` routes file descriptor 2 through a pipe and forwards everything else.
"""

import contextlib
import os
import re
import sys
import threading

NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\] "
    rb"|E\d{4} \d\d:\d\d:[\d.]+ +\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
    rb"|\w+\.cc\(\d+\) LOG\(INFO\) ")


def _forward(read_fd: int, write_fd: int) -> None:
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            lines = (pending + chunk).splitlines(keepends=True)
            # C++ streams write a line in pieces: keep its unfinished end, unless it is
            # a progress bar (redrawn with "\r", no newline until it ends).
            last = lines[-1]
            pending = b"" if last.endswith(b"\n") or b"\r" in last else lines.pop()
            kept = b"".join(line for line in lines if not NOISE.match(line))
            if kept:
                os.write(write_fd, kept)
    if pending:
        os.write(write_fd, pending)


@contextlib.contextmanager
def dropped():
    """Inside, writes to file descriptor 2 lose the lines that match `NOISE`."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    thread = threading.Thread(target=_forward, args=(read_fd, saved), daemon=True)
    thread.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the thread reads to the end
        thread.join()
        os.close(saved)
