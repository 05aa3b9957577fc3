"""The accepted Prefect 2 deprecations are silenced, and nothing else; the Prefect 3 line
needs no silencing at all."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from taxi_etl.orchestration.deprecations import (
    ACCEPTED_DEPRECATIONS,
    silence_prefect2_deprecations,
)


@pytest.mark.prefect2_only(reason="DockerContainer is Prefect 2's")
def test_compat_silences_exactly_the_accepted_deprecations() -> None:
    from prefect.infrastructure.container import DockerContainer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_prefect2_deprecations()
        DockerContainer(image="taxi-etl:local")
        warnings.warn("something else is deprecated", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]
    assert all(why for _pattern, why in ACCEPTED_DEPRECATIONS)


@pytest.mark.prefect3_only(reason="Prefect 2's deprecations are the accepted ones above")
def test_the_prefect3_line_warns_of_no_deprecation() -> None:
    """Every runtime module imports on 3.x with deprecations turned into errors: nothing
    this project uses there is on its way out."""
    modules = ", ".join(
        f"taxi_etl.{m}" for m in ("flows", "cli", "deployments.apply", "deployments.worker")
    )
    probe = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning); "
        "warnings.simplefilter('error', FutureWarning); "
        f"import {modules}"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
