import pytest

from tests.datasets.loopback import Loopback, serve


@pytest.fixture
def loopback(monkeypatch, tmp_path):
    """A real HTTP server on 127.0.0.1 (tests/datasets/loopback.py) with every source's base URL
    pointed at it (SSLBENCH_MIRROR_<SOURCE>), immediate retries and caches in tmp."""
    state, stop = serve(Loopback())
    for k, v in state.mirror_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SSLBENCH_DOWNLOAD_BACKOFF", "0")
    monkeypatch.setenv("SSLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    yield state
    stop()
