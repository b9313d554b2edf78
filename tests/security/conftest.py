"""Attack-suite helpers: planted payloads that leave a marker file if they ever run, a memory probe,
and the real Jupyter server fixtures of ``tests/server`` (loaded from there, not copied)."""

import importlib.util
import pickle
import threading
from pathlib import Path

import pytest

# pytest-jupyter's fixtures and async-test hooks, as in tests/server.
from pytest_jupyter.jupyter_server import *  # noqa: E402, F403

_spec = importlib.util.spec_from_file_location(
    "cnnvis_security_server_fixtures", Path(__file__).resolve().parents[1] / "server" / "conftest.py")
_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_server)
model_files, root, api, open_model, logdir = (_server.model_files, _server.root, _server.api,
                                              _server.open_model, _server.logdir)


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"cnnvis": True}, "allow_root": True},
        "CnnvisExtension": {"max_request_bytes": 2**20, "job_concurrency": 2, "max_sessions": 2,
                            "max_input_bytes": 64 * 2**20},
    }


class Payload:
    """Unpickling this runs code: it writes ``marker``. Every test asserts the marker stays absent."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('payload ran')",))


@pytest.fixture
def marker(tmp_path_factory):
    path = tmp_path_factory.mktemp("marker") / "payload-ran"
    yield path
    assert not path.exists(), "a planted payload ran"


@pytest.fixture
def payload_pickle(marker):
    return pickle.dumps(Payload(marker), protocol=2)


class PeakRss:
    """This process's resident memory sampled every few milliseconds while inside ``with``."""

    def __enter__(self):
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture
def peak_rss():
    return PeakRss
