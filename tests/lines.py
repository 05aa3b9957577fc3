"""What the tests expect of each Prefect line, in one table: one ``Line`` per line, and
``LINE``, the installed one, chosen here once.

The code under test asks which line is installed in one place (``orchestration.compat``);
the tests ask here, and read ``LINE.<field>`` instead of branching on the line. A test
for a feature one line lacks is marked ``prefect2_only`` or ``prefect3_only``
(tests/conftest.py skips it on the other line); a test that cannot differ between the
lines is marked ``one_line`` and runs on the default line only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from taxi_etl.orchestration.compat import PREFECT_2


@dataclass(frozen=True)
class Line:
    #: Names this line's artifacts and screenshots (both lines run in CI).
    name: str
    #: The service that starts flow-run containers: Prefect 2's agent, reading the
    #: `docker-container/taxi-etl` block; Prefect 3's worker, reading the
    #: `taxi-etl-docker` work pool's job template.
    launcher: Literal["agent", "worker"]

    # --- the compose stack (tests/docker/compose_stack.py) ---------------------------
    #: docker-compose.yml, plus Prefect 3's override with its worker.
    compose_files: tuple[str, ...]
    #: The flow-run image deploy.py names.
    image: str
    #: Appended to each test module's compose project: the two lines' suites never share
    #: a project, a network or a volume, also if run at once.
    project_suffix: str
    #: The label naming a flow-run container's run: prefect-docker 0.7 turns Prefect's
    #: `prefect.io/` labels around into Docker's reverse-DNS style.
    run_label: str
    #: Where the UI shows a flow run (Prefect 3's UI moved runs under /runs).
    ui_run_path: str

    # --- what the launcher logs ------------------------------------------------------
    #: Its line when it picks up a run: `<this> '<run id>'`.
    submitting: str
    #: Its line when a run's container has been started, with the run in group 1: the
    #: agent names the run's id, the worker its name (`submitted_by`).
    submitted: str
    submitted_by: Literal["id", "name"]
    #: What it logs when a poll of a restarted server fails; None: the launcher logs
    #: failed polls at DEBUG only (Prefect 3's worker).
    poll_error: str | None

    # --- what deploy.py writes -------------------------------------------------------
    #: The flow-run containers' image pull policy with deploy.py's defaults
    #: (tests/deployments), and the ones the compose stack's deploy may set.
    image_pull_policy: str
    stack_image_pull_policies: tuple[str, ...]
    #: The server's route for Crashed runs, and the webhook JSON's `source` it sends.
    crash_route: Literal["notification policy", "automation"]
    crash_source: str
    #: Lines a Crashed-run notification has on this line only (an automation's template
    #: can name the deployment too).
    crash_text_extra: tuple[str, ...]

    # --- what Prefect records ----------------------------------------------------------
    #: A task run that Dask ran again after its worker died.
    dask_rerun: tuple[str, ...]
    #: What follows Completed when Dask recomputes a month that had finished on the killed
    #: worker before the client fetched its result: Prefect 2 as seen in CI on 2026-12-01;
    #: Prefect 3 restarts a rerun from Pending, as `dask_rerun` shows.
    dask_recomputed: tuple[str, ...]
    #: Pending states of a deployment run executed once in a container: Prefect 3's runner
    #: in the container proposes Pending once more before Running.
    pending_per_run: tuple[int, ...]

    # --- the UI (tests/docker/test_browser.py) ---------------------------------------
    #: An enum parameter's options open on a click (Prefect 2), or from the keyboard
    #: only, as Prefect 3's select ignores a click in headless Chromium.
    choice_opens_on_click: bool
    #: An array item is deleted from its menu (Prefect 2), or by a trash button beside
    #: the menu (Prefect 3).
    item_deleted_from_menu: bool


PREFECT2 = Line(
    name="prefect2",
    launcher="agent",
    compose_files=("docker-compose.yml",),
    image="taxi-etl:local",
    project_suffix="",
    run_label="prefect.io/flow-run-id",
    ui_run_path="flow-runs/flow-run",
    submitting="Submitting flow run",
    submitted=r"Completed submission of flow run '([0-9a-f-]{36})'",
    submitted_by="id",
    poll_error="| ERROR   | prefect.agent",
    image_pull_policy="IF_NOT_PRESENT",
    stack_image_pull_policies=("IF_NOT_PRESENT", "NEVER"),
    crash_route="notification policy",
    crash_source="prefect-notification-policy",
    crash_text_extra=(),
    dask_rerun=("Pending", "Running", "Rerunning", "Completed"),
    dask_recomputed=("Running", "Completed"),
    pending_per_run=(1,),
    choice_opens_on_click=True,
    item_deleted_from_menu=True,
)

PREFECT3 = Line(
    name="prefect3",
    launcher="worker",
    compose_files=("docker-compose.yml", "docker-compose.prefect3.yml"),
    image="taxi-etl:prefect3",
    project_suffix="-p3",
    run_label="io.prefect.flow-run-id",
    ui_run_path="runs/flow-run",
    submitting="submitting flow run",
    submitted=r"Flow run '([^']+)' submitted to infrastructure",
    submitted_by="name",
    poll_error=None,
    image_pull_policy="Never",
    stack_image_pull_policies=("Never",),
    crash_route="automation",
    crash_source="prefect-automation",
    crash_text_extra=("Deployment: custom",),
    dask_rerun=("Pending", "Running", "Pending", "Running", "Completed"),
    dask_recomputed=("Pending", "Running", "Completed"),
    pending_per_run=(1, 2),
    choice_opens_on_click=False,
    item_deleted_from_menu=False,
)

#: The installed line.
LINE = PREFECT2 if PREFECT_2 else PREFECT3
