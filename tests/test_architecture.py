"""The house rules, checked on the source: imports flow one way, from ``params`` up to
``cli`` and ``deployments``; the runtime never imports the demo and test tooling; no
module grows past 350 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "taxi_etl"

#: Every runtime module, lowest first: each may import only modules before it.
ORDER = [
    "params",
    "stopping",
    "source",
    "settings",
    "schemas.model",
    "schemas.codes",
    "schemas.datasets",
    "schemas",
    "transform.cpus",
    "transform.cast",
    "transform.conform",
    "transform.writer",
    "transform.extra",
    "transform.csvform",
    "transform.csvgz",
    "transform.parquet",
    "transform.widen",
    "transform",
    "lake.manifest",
    "lake.base",
    "lake.local",
    "lake.gcs",
    "lake",
    "quality",
    "verify",
    "results",
    "pipeline",
    "zones",
    # The Prefect side, above every domain module (DOMAIN: none of them imports Prefect).
    "orchestration.compat",
    "orchestration.compat.server",
    "orchestration.deprecations",
    "orchestration.embedded",
    "orchestration.artifacts",
    "orchestration.runners",
    "orchestration.notifications",
    "orchestration.orphans",
    "orchestration.progress",
    "orchestration.month_tasks",
    "orchestration.month_flow",
    "orchestration.dask_flow",
    "orchestration.fanout",
    "orchestration.parent_flows",
    "orchestration",
    "flows",
    "cli.output",
    "cli.running",
    "cli.stops",
    "cli.commands",
    "cli",
    "deployments.catalogue",
    "deployments.line",
    "deployments.agent",
    "deployments.worker",
    "deployments.installed",
    "deployments.settings",
    "deployments.plan",
    "deployments.apply",
    "deployments.cli",
    "deployments",
]
#: What the data does, source -> transform -> lake, with no orchestrator in it.
DOMAIN = ORDER[: ORDER.index("zones") + 1]
#: The one runtime import of the tooling: `taxi-etl demo` (lazily, inside the command).
TOOLING_ALLOWED = {"cli.commands"}


def _name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _name(p): p for p in SRC.rglob("*.py") if p.name != "__main__.py" and _name(p) != ""
}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the file but those under ``if TYPE_CHECKING:``: an annotation names
    a type from above (agent.py's DeploySettings) without importing it at run time."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        guard = ast.unparse(node.test) if isinstance(node, ast.If) else ""
        if guard in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    return [n for n in ast.walk(tree) if id(n) not in skipped]


def _imports(path: Path) -> set[str]:
    """The taxi_etl modules `path` imports at run time, at any depth of the file:
    ``from taxi_etl.a import b`` is module ``a.b`` when that is a module, else ``a``."""
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "taxi_etl" or node.module.startswith("taxi_etl."):
                base = node.module.removeprefix("taxi_etl").removeprefix(".")
                for alias in node.names:
                    name = f"{base}.{alias.name}".lstrip(".")
                    found.add(name if name in MODULES else base)
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("taxi_etl.")
                for a in node.names
                if a.name.startswith("taxi_etl.")
            }
    return found - {""}


def test_every_runtime_module_has_its_place() -> None:
    runtime = {m for m in MODULES if not m.startswith("devtools")}
    assert runtime == set(ORDER)


@pytest.mark.parametrize("module", ORDER)
def test_imports_flow_one_way(module: str) -> None:
    allowed = set(ORDER[: ORDER.index(module)])
    own = {m for m in ORDER if m.startswith(module + ".")}  # a package's own modules
    imported = _imports(MODULES[module]) - own
    tooling = {m for m in imported if m.startswith("devtools")}
    assert not tooling or module in TOOLING_ALLOWED, f"{module} imports tooling {tooling}"
    upward = imported - allowed - tooling
    assert not upward, f"{module} imports {sorted(upward)}, which come after it"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_350_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= 350, f"{module}: {lines} lines"


def _imports_prefect(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return {n for n in names if n.split(".")[0] in ("prefect", "prefect_gcp", "prefect_dask")}


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_never_imports_prefect(module: str) -> None:
    """A month's data path runs without Prefect (a Dask worker, a script, convert); the
    flows are wiring over it. (prefect_gcp's GcsBucket block is read by the lake only
    for a gcs-block:// lake, lazily: that one is the lake's job.)"""
    found = _imports_prefect(MODULES[module])
    allowed = {"prefect_gcp.cloud_storage"} if module == "lake.gcs" else set()
    assert found <= allowed, f"{module} imports {sorted(found - allowed)}"


#: Where the code may ask which Prefect line is installed: the seam, and the one place
#: the deployments choose their line.
LINE_CHECKS = {"orchestration.compat", "orchestration.compat.server", "deployments.installed"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_seam_asks_which_line_is_installed(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    asks = "PREFECT_2" in names
    assert not asks or module in LINE_CHECKS, f"{module} branches on the Prefect line"
