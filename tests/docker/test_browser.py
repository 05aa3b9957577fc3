"""A Custom run started in a real browser, as a user does it every day (#7 §1).

Debian's Chromium, driven by Playwright (no browser download: ``executable_path``),
opens the Prefect UI of a compose stack on 127.0.0.1, picks the ``custom``
deployment, starts a Custom run with colour, year and months changed in the typed
parameter form, and watches the run page until it shows Completed. Then the API says
the flow run got exactly those parameters, and the emulator's bucket holds the month.

Screenshots of the filled form and of the finished run go to artifacts/screenshots/
<line>/ (git-ignored; CI keeps them as artifacts). The stack and the UI are those of
the installed Prefect line (compose_stack.py). The browser may only reach the stack: every
request to another host is aborted and reported.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from compose_stack import (
    MIRROR_ROWS,
    REPO,
    UI_RUN_PATH,
    Stack,
    child_runs,
    read_partition,
    read_run,
)
from compose_support import REQUIRE_DOCKER
from lines import LINE

#: The end-to-end module's stack, shared (conftest.py): this adds nothing to it but a run
#: of a month the other module does not load.
PROJECT = "taxi-etl-e2e"
CHROMIUM = os.environ.get("TAXI_ETL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: One folder per Prefect line: the two UIs differ.
SCREENSHOTS = REPO / "artifacts" / "screenshots" / LINE.name
UI_TIMEOUT_MS = 30_000
RUN_TIMEOUT_MS = 180_000
#: The form's changes: the deployment's defaults are yellow, 2021, [1, 2, 3]. Not a green
#: month: test_compose_e2e.py loads those on the same stack.
COLOUR, YEAR, MONTH = "fhv", 2019, 2

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def require_browser() -> None:
    """Skip, or fail under TAXI_ETL_REQUIRE_DOCKER=1, without Playwright and Chromium
    (scripts/browser-setup.sh installs them)."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed")
    if not Path(CHROMIUM).is_file():
        problems.append(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if problems:
        message = "; ".join(problems) + "; run scripts/browser-setup.sh"
        if REQUIRE_DOCKER:
            pytest.fail(f"{message} (TAXI_ETL_REQUIRE_DOCKER=1)", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module", autouse=True)
def _browser_is_usable() -> None:
    require_browser()


@pytest.fixture
def page(stack: Stack, tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile whose requests may only go to the stack's UI port."""
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def only_the_stack(route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or (
            url.hostname == "127.0.0.1" and url.port == stack.prefect_port
        ):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            context.route("**/*", only_the_stack)
            context.set_default_timeout(UI_TIMEOUT_MS)
            yield context.new_page()
        finally:
            context.close()
            stack.measure("browser: requests blocked (not the stack)", blocked)


def _property(page: Any, name: str) -> Any:
    """The form field of parameter `name` (its label reads "name (Optional)")."""
    label = page.locator(".schema-form-property__label", has_text=re.compile(rf"^{name}\b"))
    return page.locator(".schema-form-property").filter(has=label).first


def _open_choice(page: Any, name: str) -> None:
    """Open an enum parameter's options. Prefect 3's select ignores a click in headless
    Chromium but opens from the keyboard, as a user tabbing through the form would."""
    select = _property(page, name)
    if LINE.choice_opens_on_click:
        select.locator(".p-select-button").click()
        return
    select.locator(".p-select-button__control").focus()
    page.keyboard.press("ArrowDown")


def _delete_array_item(page: Any, item: Any) -> None:
    """Prefect 2's form deletes an item from its menu; Prefect 3's has a trash button
    beside the menu (the item's only button outside it)."""
    if LINE.item_deleted_from_menu:
        item.locator(".schema-form-property-menu button").click()
        page.get_by_role("button", name="Delete", exact=True).click()
        return
    buttons = item.locator("button")
    trash = buttons.evaluate_all(
        "els => els.findIndex(e => !e.closest('.schema-form-property-menu'))"
    )
    assert trash >= 0, "no delete button in the array item"
    buttons.nth(trash).click()


def _open_run_from_the_list(page: Any, stack: Stack, run_name: str) -> None:
    """Open the new run from the deployment's Runs tab, as a user does.

    After Submit the UI goes back to the deployment page, whose run list it kept from the
    earlier visit and refreshes only on its polling interval: the new run can take that
    long to appear (seen in CI on Prefect 3, 30 s without it). A user then reloads the
    page, and so does this, once; a run still missing after the reload is a failure.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    link = page.get_by_role("link", name=run_name, exact=True)
    try:
        link.click(timeout=10_000)
        return
    except PlaywrightTimeout:
        stack.measure("browser: run list reloaded to show the new run", True)
    page.reload()
    link.click()


def test_custom_run_from_the_parameter_form_completes_with_the_overrides(
    stack: Stack, deployed: dict[str, str], page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    page.goto(f"{stack.ui_url}/deployments")
    page.get_by_role("link", name="custom", exact=True).click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run", exact=True).click()
    page.wait_for_url(
        re.compile(rf"/deployments/deployment/{deployed['etl_parent_flow/custom']}/run")
    )

    # The typed form: months is a list of integers, year an integer, colour a choice.
    months = _property(page, "months")
    items = months.locator(".schema-form-property-array-item")
    expect(items).to_have_count(3)  # the deployment's default [1, 2, 3]
    for index in (2, 1):
        _delete_array_item(page, items.nth(index))
    expect(items).to_have_count(1)
    items.nth(0).locator("input").fill(str(MONTH))
    _property(page, "year").locator("input").fill(str(YEAR))
    _open_choice(page, "colour")
    options = page.get_by_role("option")
    expect(options).to_have_text(["yellow", "green", "fhv", "fhvhv"])  # the Colour enum
    page.get_by_role("option", name=COLOUR, exact=True).click()
    expect(_property(page, "colour").locator(".p-select-button__value")).to_have_text(COLOUR)
    # The source, a choice too; the course's mirror (the offline mirror's dtc months).
    _open_choice(page, "source")
    expect(page.get_by_role("option")).to_have_text(["dtc", "tlc", "tlc-csv"])
    page.get_by_role("option", name="dtc", exact=True).click()
    expect(_property(page, "source").locator(".p-select-button__value")).to_have_text("dtc")
    page.screenshot(path=str(SCREENSHOTS / "custom-run-form.png"), full_page=True)

    run_name = page.locator("input").first.input_value()
    assert run_name
    page.get_by_role("button", name="Submit").click()
    submitted = time.monotonic()
    page.wait_for_url(re.compile(r"tab=Runs"))
    _open_run_from_the_list(page, stack, run_name)
    page.wait_for_url(re.compile(rf"/{UI_RUN_PATH}/[0-9a-f-]{{36}}"))
    run_id = page.url.rsplit("/", 1)[1].split("?")[0]
    badge = page.locator(".state-badge").first
    expect(badge).to_have_text(re.compile("Completed"), timeout=RUN_TIMEOUT_MS)
    stack.measure("browser: Submit to Completed shown (s)", round(time.monotonic() - submitted, 1))
    stack.measure("browser: whole UI session (s)", round(time.monotonic() - t0, 1))
    # The run's log, as the UI shows it: the parent's line for the month it loaded.
    expect(
        page.get_by_text(f"colour={COLOUR}/year={YEAR}/month={MONTH:02d}: loaded")
    ).to_be_visible()
    page.wait_for_timeout(1500)  # let the run graph finish its animation
    page.screenshot(path=str(SCREENSHOTS / "custom-run-completed.png"), full_page=True)
    page.locator("li.p-tab#parameters").click()  # the run's parameters, as JSON
    expect(page.get_by_text(f'"{COLOUR}"', exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "custom-run-parameters.png"), full_page=True)

    # What the API says the run used: the form's values, the other defaults unchanged.
    flow_run = read_run(stack.api_url, run_id)
    assert flow_run.name == run_name
    assert str(flow_run.deployment_id) == deployed["etl_parent_flow/custom"]
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.parameters == {
        "colour": COLOUR,
        "year": YEAR,
        "months": [MONTH],
        "force": False,
        "concurrency": 2,
        "lake": None,
        "source_url": None,
        "runner": None,
        "dask_address": None,
        "source": "dtc",
    }
    assert flow_run.infrastructure_pid  # it ran in a container the agent or worker started
    # And the month landed in the emulator's bucket, loaded by this run's subflow.
    key = f"colour={COLOUR}/year={YEAR}/month={MONTH:02d}"
    manifest, rows, names = read_partition(stack, key, tmp_path)
    assert names == {f"{key}/data.parquet", f"{key}/_manifest.json"}
    assert manifest["rows"] == rows == MIRROR_ROWS  # an fhv month: the mirror's full size
    [child] = child_runs(stack.api_url, run_id)
    assert uuid.UUID(manifest["flow_run_id"]) == child.id
    for shot in ("custom-run-form", "custom-run-completed", "custom-run-parameters"):
        assert (SCREENSHOTS / f"{shot}.png").stat().st_size > 10_000, shot
