import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state (NumPy, Python, backend)."""
    keras.utils.set_random_seed(1234)
    yield


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test` runs two pytest-xdist workers. A folder of tests/ with its own
    conftest.py shares session fixtures (a trained model, an export, a TFDS build), so
    the whole folder goes to one worker, which builds each of them once; other tests go
    by file (module fixtures). (xdist's `loadgroup` marks do not reach pytest 9's ids.)
    An explicit `--dist` (`make test-jax`: tests without shared fixtures) keeps xdist's."""
    from xdist.scheduler import LoadScopeScheduling

    if config.getvalue("dist") != "load":
        return None

    here = os.path.dirname(os.path.abspath(__file__))

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            folder = os.path.dirname(os.path.join(str(config.rootpath), path))
            if folder != here and os.path.exists(os.path.join(folder, "conftest.py")):
                return os.path.dirname(path)
            return path

    return SharedFixtureScheduling(config, log)
