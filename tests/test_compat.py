"""The accepted Prefect 2 deprecations are silenced, and nothing else."""

from __future__ import annotations

import warnings

from taxi_etl.compat import ACCEPTED_DEPRECATIONS, silence_prefect2_deprecations


def test_compat_silences_exactly_the_accepted_deprecations() -> None:
    from prefect.infrastructure.container import DockerContainer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_prefect2_deprecations()
        DockerContainer(image="taxi-etl:local")
        warnings.warn("something else is deprecated", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]
    assert all(why for _pattern, why in ACCEPTED_DEPRECATIONS)
