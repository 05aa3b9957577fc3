"""The Prefect 2 deprecations this project has read and accepts, silenced here and
nowhere else.

The container path uses Prefect 2's agent + infrastructure-block model on purpose: it is
what the course teaches and what prefect 2.20 / prefect-docker 0.5 support together.
Prefect marks that whole model deprecated in favour of workers, which the Prefect 3 line
here uses (docs/containers.md, "Prefect 3: a work pool and a worker"); the warnings say
nothing new after the first read, so each one is listed here with the reason it is
accepted, and nothing else is hidden. A deprecation that is not listed still shows, so
a new one gets read before it gets silenced.

Not covered, because Prefect prints them with ``print`` rather than ``warnings``: the
one ``WARNING: The 'agent' command group has been deprecated`` line at agent start, and
the like for ``prefect deployment build``.
"""

from __future__ import annotations

import warnings

#: (message regex, why it is accepted). Matched with ``re.match`` against the text.
ACCEPTED_DEPRECATIONS: tuple[tuple[str, str], ...] = (
    (
        r"prefect\.infrastructure\.container\.DockerContainer has been deprecated",
        "the agent runs flows through this block; on the Prefect 3 line a work pool and "
        "prefect-docker's DockerWorker replace it",
    ),
    (
        r"prefect\.infrastructure\.base\.Infrastructure has been deprecated",
        "the base class of DockerContainer, warned again on each instance",
    ),
    (
        r"prefect\.infrastructure\.process\.Process has been deprecated",
        "the default infrastructure of Deployment, used by the course's CLI route",
    ),
    (
        r"prefect\.deployments\.deployments\.Deployment has been deprecated",
        "Deployment.build_from_flow is the only 2.x API that takes an infrastructure block",
    ),
    (
        r"prefect\.client\.schemas\.objects\.MinimalDeploymentSchedule has been deprecated",
        "build_from_flow(schedules=[...]) makes it internally; its replacement is Prefect 3's",
    ),
)


#: (PYTHONWARNINGS entry, why it is accepted) for the flow-run containers, where
#: ``python -m prefect.engine`` warns before any project code could install a filter.
#: deployments.settings passes them as the containers' PYTHONWARNINGS. Entries match by
#: message prefix (Python escapes it), so they cannot hide anything else.
FLOW_RUN_WARNING_FILTERS: tuple[tuple[str, str], ...] = (
    (
        "ignore:prefect.deployments.deployments.load_flow_from_flow_run has been deprecated"
        ":DeprecationWarning",
        "the engine's own loader for deployments with a path; workers replace it",
    ),
    (
        "ignore:'prefect.engine' found in sys.modules:RuntimeWarning",
        "runpy's note on Prefect's own `python -m prefect.engine` command; harmless",
    ),
)


#: (message regex, category name, why) for warnings Prefect's own server code raises on
#: the embedded (ephemeral) API, which a CLI user would otherwise see on every first run.
ACCEPTED_NOISE: tuple[tuple[str, str, str], ...] = (
    (
        r"Skipped unsupported reflection of expression-based index",
        "SAWarning",
        "SQLAlchemy reflecting Prefect's own SQLite indexes during migrations; harmless",
    ),
)


def flow_run_pythonwarnings() -> str:
    """The PYTHONWARNINGS value for flow-run containers."""
    return ",".join(entry for entry, _why in FLOW_RUN_WARNING_FILTERS)


def silence_prefect2_deprecations() -> None:
    """Ignore exactly the accepted deprecations; idempotent, cheap, and Prefect-free."""
    for pattern, _why in ACCEPTED_DEPRECATIONS:
        # DeprecationWarning also matches Prefect's PrefectDeprecationWarning subclass,
        # without importing it from a private module.
        warnings.filterwarnings("ignore", message=pattern, category=DeprecationWarning)
    for pattern, category, _why in ACCEPTED_NOISE:
        # Matched by the category's name, so silencing needs no SQLAlchemy import.
        warnings.filterwarnings("ignore", message=pattern, category=_named(category))


def _named(category: str) -> type[Warning]:
    """The warning class called `category`, looked up lazily; Warning if unknown."""
    if category == "SAWarning":
        try:
            from sqlalchemy.exc import SAWarning
        except ImportError:  # the embedded API is not installed: nothing to silence
            return Warning
        return SAWarning
    return Warning
