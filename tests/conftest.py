"""Shared test setup.

* Real data comes from ``../shared/data`` (beside the repo root).  In CI (``CI`` set) a missing folder
  fails the run instead of skipping: the suite must not pass vacuously.
* Every test session gets its own ``MEDIATK_HOME`` and ``MEDIATK_RUNS`` under a temp dir, so tests never
  see a developer's trained models and never write outside pytest's temp area.
* ``MEDIATK_OFFLINE=1``: no test tries the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT.parent / "shared" / "data").resolve()  # resolved: loaders report resolved paths


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("mediatk_home")
    old = {k: os.environ.get(k) for k in ("MEDIATK_HOME", "MEDIATK_RUNS", "MEDIATK_DATA", "MEDIATK_OFFLINE")}
    os.environ["MEDIATK_HOME"] = str(home)
    os.environ["MEDIATK_RUNS"] = str(home / "runs")
    os.environ["MEDIATK_OFFLINE"] = "1"
    if SHARED.is_dir():
        os.environ["MEDIATK_DATA"] = str(SHARED)
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of small models.  On 2 cores shared with other jobs, 2 threads made
    the detector modules 5-17x slower (OpenMP barriers waiting for a core); idle, 1 thread costs < 2x."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; a hard failure (never a skip) when it is missing."""
    if not SHARED.is_dir():
        pytest.fail(f"shared data not found at {SHARED}: tests need ../shared/data beside the repo")
    return SHARED


@pytest.fixture
def cli():
    """Run the CLI in-process: returns (exit_code, stdout, stderr)."""
    from click.testing import CliRunner
    from mediatk.cli import main

    def run(*args: str):
        runner = CliRunner()
        res = runner.invoke(main, [str(a) for a in args], catch_exceptions=True)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return res.exit_code, res.stdout, res.stderr

    return run
