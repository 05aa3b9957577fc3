"""The real files as test parameters: one case per file, named by its path.

``real_file`` is every discovered file, ``whole_month_file`` those that are a whole
month, ``dataset`` each dataset with files. Without the folder every case is one
``missing`` case that skips, or fails when TAXI_ETL_REQUIRE_REAL_TLC=1.
"""

from __future__ import annotations

import pytest
from conformance.locate import RealFile, check_sum, discover, real_root, required

_ROOT = real_root()
_FILES = discover(_ROOT) if _ROOT.is_dir() else []


def _absent() -> None:
    why = f"no real TLC files at {_ROOT} (set TAXI_ETL_REAL_TLC)"
    if required():
        pytest.fail(f"{why}, and TAXI_ETL_REQUIRE_REAL_TLC=1")
    pytest.skip(why)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    choices: dict[str, list[RealFile]] = {
        "real_file": _FILES,
        "whole_month_file": [f for f in _FILES if f.whole_month],
    }
    for name, files in choices.items():
        if name in metafunc.fixturenames:
            params = files if files or _FILES else [None]
            ids = [f.name if f else "missing" for f in params]
            metafunc.parametrize(name, params, ids=ids, indirect=True)
    if "dataset" in metafunc.fixturenames:
        datasets = sorted({f.dataset for f in _FILES if f.dataset}) or [None]
        ids = [d or "missing" for d in datasets]
        metafunc.parametrize("dataset", datasets, ids=ids, indirect=True)


def _checked(param: RealFile | None) -> RealFile:
    if param is None:
        _absent()
        raise AssertionError("unreachable")
    bad = check_sum(_ROOT, param)
    if bad:
        pytest.fail(bad)
    if param.dataset is None:
        pytest.fail(f"{param.name}: not named {{dataset}}_tripdata_{{YYYY}}-{{MM}}...")
    return param


@pytest.fixture
def real_file(request: pytest.FixtureRequest) -> RealFile:
    return _checked(request.param)


@pytest.fixture
def whole_month_file(request: pytest.FixtureRequest) -> RealFile:
    return _checked(request.param)


@pytest.fixture
def dataset(request: pytest.FixtureRequest) -> str:
    if request.param is None:
        _absent()
    return str(request.param)


@pytest.fixture(scope="session")
def real_files() -> list[RealFile]:
    """Every discovered file (for checks across files)."""
    if not _FILES:
        _absent()
    return list(_FILES)
