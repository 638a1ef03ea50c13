import os
import signal
import subprocess
import sys

import pytest

from tf_transformer import cli
from tf_transformer.training import config as run_config
from tf_transformer.training.lock import LOCK_FILE, RunLockedError, run_lock
from tf_transformer.training.trainer import train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A second process that takes the lock, says so, and holds it until killed.
_HOLDER = """
import sys, time
from tf_transformer.training.lock import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_process_is_refused_with_the_holders_pid_until_it_dies(tmp_path,
                                                                        tiny_config, capsys):
    run = str(tmp_path / "run")
    config_file = str(tmp_path / "run.yaml")
    run_config.dump(tiny_config(), config_file)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, run], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}\\)"):
            with run_lock(run):
                pass
        # `train` is refused before it reads any data or writes anything.
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}\\)"):
            train(tiny_config(), run, verbose=0)
        # So is `prepare`, which writes the vocabularies and data record a training reads.
        capsys.readouterr()
        assert cli.main(["prepare", "--config", config_file, "--run-dir", run]) == 2
        assert f"pid {holder.pid})" in capsys.readouterr().err
        assert os.listdir(run) == [LOCK_FILE]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The dead holder's pid is still in the file: a stale lock, taken over.
    with open(os.path.join(run, LOCK_FILE)) as f:
        assert f.read() == f"{holder.pid}\n"
    with run_lock(run):
        with open(os.path.join(run, LOCK_FILE)) as f:
            assert f.read() == f"{os.getpid()}\n"
