import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.orchestration.package_guard import check_datasets_package  # noqa: E402

check_datasets_package()

FMNIST_DIRS = [Path("/usr/share/datasets/fashion-mnist")]


def shared_data_dir() -> Path | None:
    env = os.environ.get("SSLBENCH_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs ../shared/data or SSLBENCH_DATA_DIR")
        pytest.skip("no shared data dir")
    return d


@pytest.fixture(scope="session")
def fmnist_dir() -> Path:
    for d in FMNIST_DIRS:
        if (d / "train-images-idx3-ubyte.gz").exists():
            return d
    if os.environ.get("CI"):
        pytest.fail("CI must install dataset-fashion-mnist (see .ci/run)")
    pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny problems on a shared 2-core box run faster without
    OpenMP threads contending, and some tests compare results computed at one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
