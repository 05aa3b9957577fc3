"""Security checks of the images and the compose file, as tests (#6 §6).

* Every image runs as a non-root user, and the project image's code and venv are not
  writable by that user (a flow run cannot patch the code that the next run loads).
  The running services and flow-run containers are checked in test_compose_e2e.py and
  test_container_faults.py.
* No layer of any image holds a credential or key file: ``docker save`` and read each
  layer tar (image_scan.py), since a file deleted by a later layer is still shipped.
  The build's CA bundle (docker/build-ca/) is in no layer and no history entry.
* docker-compose.yml, alone (Prefect 2) and with docker-compose.prefect3.yml, as
  Compose resolves it (``docker compose config``), publishes only on 127.0.0.1 and mounts
  the Docker socket into the agent or the worker only, with the default settings and
  with every port and socket setting overridden; nothing is privileged.

No stack is brought up: this needs only the built images.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import image_scan
import pytest
from compose_stack import IMAGE, IMAGES, REPO, base_env, ensure_images, run
from compose_support import report_for, require_docker

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

BUILD_CA = REPO / "docker" / "build-ca" / "ca-certificates.crt"
#: Findings that are not secrets, each with the reason. Matched on the layer path.
ALLOWED = {
    r"usr/lib/[^/]+/libgnutls\.so\.[0-9.]+": "GnuTLS's FIPS self-test keys, compiled-in "
    "public test vectors of the Debian library",
}


@pytest.fixture(scope="module", autouse=True)
def images(request: pytest.FixtureRequest) -> None:
    require_docker()
    ensure_images(report_for(request.config))


#: The project image is each line's own; Postgres's and the emulator's are built from the
#: same Dockerfiles and tags on both lines, so they are checked on one (`one_line`).
CHECKED = [IMAGE, *(pytest.param(i, marks=pytest.mark.one_line) for i in IMAGES if i != IMAGE)]


def _allowed(finding: image_scan.Finding) -> bool:
    return any(re.fullmatch(pattern, finding.path) for pattern in ALLOWED)


def _scan(image: str, tmp_path: Path) -> tuple[list[image_scan.Finding], int]:
    saved = tmp_path / "image.tar"
    run(["docker", "save", "--output", str(saved), image], timeout=300)
    try:
        build_ca = BUILD_CA.read_bytes() if BUILD_CA.is_file() else b""
        return image_scan.scan(saved, build_ca)
    finally:
        saved.unlink(missing_ok=True)


@pytest.mark.parametrize("image", CHECKED)
def test_image_runs_as_non_root(image: str) -> None:
    config = json.loads(run(["docker", "image", "inspect", image]).stdout)[0]["Config"]
    user = config["User"]
    assert user and user.split(":")[0] not in ("0", "root"), (image, user)
    uid = run(["docker", "run", "--rm", "--entrypoint", "id", image, "-u"]).stdout.strip()
    assert uid != "0", image


def test_code_and_venv_are_read_only_for_the_runtime_user() -> None:
    probe = (
        "import os, json; print(json.dumps([os.getuid()] + [os.access(p, os.W_OK) for p in "
        "('/opt/prefect/flows/src/taxi_etl', '/opt/prefect/flows/src/taxi_etl/flows.py', "
        "'/opt/venv/lib/python3.11/site-packages', '/opt/venv/bin')]))"
    )
    out = run(["docker", "run", "--rm", "--entrypoint", "python", IMAGE, "-c", probe]).stdout
    uid, *writable = json.loads(out)
    assert uid == 10001
    assert writable == [False, False, False, False]


def test_a_cpu_limited_container_sizes_its_transform_to_the_quota() -> None:
    """`docker run --cpus 1` on a bigger host: one parse thread, one transform at once
    (os.cpu_count() would say the host's count)."""
    probe = "from taxi_etl.transform import cpus as t; print(t.WORKERS, t.CONCURRENT, t.CPUS)"
    limited = ["docker", "run", "--rm", "--cpus", "1", "--entrypoint", "python", IMAGE]
    assert run([*limited, "-c", probe]).stdout.split() == ["1", "1", "1"]
    free = run(["docker", "run", "--rm", "--entrypoint", "python", IMAGE, "-c", probe])
    assert free.stdout.split()[2] == str(len(os.sched_getaffinity(0)))


@pytest.mark.parametrize("image", CHECKED)
def test_no_credential_or_key_in_any_layer(image: str, tmp_path: Path) -> None:
    findings, files = _scan(image, tmp_path)
    assert files > 1000, f"only {files} files scanned in {image}: the scan read nothing"
    assert [str(f) for f in findings if not _allowed(f)] == []
    history = run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout
    assert "build-ca" not in history
    env = json.loads(run(["docker", "image", "inspect", image]).stdout)[0]["Config"]["Env"]
    assert not [e for e in env if e.startswith(("PIP_CERT=", "REQUESTS_CA_BUNDLE=", "SSL_CERT"))]


@pytest.mark.one_line  # the scan is the tests' own code, on the emulator's shared image
def test_the_layer_scan_finds_a_key_that_a_later_layer_deleted(tmp_path: Path) -> None:
    """The scan itself: a throwaway image with a private key added then deleted, a
    service-account key file and a .pem with a key must all be reported."""
    key = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    context = tmp_path / "context"
    context.mkdir()
    (context / "deleted.txt").write_bytes(key)
    (context / "sa.json").write_text(
        json.dumps({"type": "service_account", "private_key": key.decode()})
    )
    (context / "bundle.pem").write_bytes(key)
    (context / "Dockerfile").write_text(
        "FROM taxi-etl-gcs:local\n"
        "COPY deleted.txt /tmp/deleted.txt\n"
        "USER 0\nRUN rm /tmp/deleted.txt\n"
        "COPY sa.json bundle.pem /opt/probe/\n"
        "USER 10001:10001\n"
    )
    probe = f"taxi-etl-scan-probe:{os.getpid()}"  # the other line's run may scan at once
    try:
        run(["docker", "build", "--quiet", "--tag", probe, str(context)], timeout=300)
        findings, _ = _scan(probe, tmp_path)
    finally:
        subprocess.run(["docker", "rmi", "--force", probe], capture_output=True, timeout=120)
    found = {(f.path, f.why) for f in findings if not _allowed(f)}
    assert found == {
        ("tmp/deleted.txt", "private key material"),
        ("opt/probe/sa.json", "a service-account key"),
        ("opt/probe/bundle.pem", "private key material"),
        ("opt/probe/bundle.pem", "a .pem holding ['PRIVATE KEY']"),
    }


#: Each line's compose files and the one service that starts flow-run containers; both
#: are checked whichever Prefect is installed (`compose config` needs no Prefect), so
#: on one line only (`one_line`).
LINES = {
    "prefect2": (("docker-compose.yml",), "agent"),
    "prefect3": (("docker-compose.yml", "docker-compose.prefect3.yml"), "worker"),
}


def _compose_config(files: tuple[str, ...], **env: str) -> dict[str, Any]:
    cmd = ["docker", "compose"]
    for name in files:
        cmd += ["-f", str(REPO / name)]
    out = run(
        [*cmd, "--profile", "offline", "--profile", "dask", "config", "--format", "json"],
        env={**base_env(), **env},
    ).stdout
    services: dict[str, Any] = json.loads(out)["services"]
    return services


@pytest.mark.one_line
@pytest.mark.parametrize("line", sorted(LINES))
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"PREFECT_PORT": "14200", "GCS_PORT": "19023", "DOCKER_SOCKET": "/run/docker.sock",
         "DOCKER_GID": "998", "TAXI_ETL_NETWORK": "elsewhere"},
    ],
    ids=["defaults", "overridden"],
)  # fmt: skip
def test_compose_publishes_on_loopback_only_and_only_the_launcher_has_the_socket(
    settings: dict[str, str], line: str
) -> None:
    files, launcher = LINES[line]
    services = _compose_config(files, **settings)
    assert set(services) == {
        "postgres", "server", launcher, "gcs", "mirror", "dask-scheduler", "dask-worker",
    }  # fmt: skip
    published = {}
    for name, service in services.items():
        for port in service.get("ports") or []:
            assert port.get("host_ip") == "127.0.0.1", (name, port)
            published[name] = int(port["published"])
        sockets = [
            v for v in service.get("volumes") or []
            if "docker.sock" in str(v.get("source")) + str(v.get("target"))
        ]  # fmt: skip
        assert bool(sockets) == (name == launcher), (name, sockets)
        assert not service.get("privileged"), name
        assert service.get("network_mode") in (None, "default"), name
        assert service.get("pid") is None and not service.get("cap_add"), name
        assert str(service.get("user", "")).split(":")[0] not in ("0", "root"), name
    # Only the UI/API and the emulator: nothing of Postgres, the launcher, the mirror or Dask.
    expected = {"server": 4200, "gcs": 9023}
    if settings:
        expected = {"server": int(settings["PREFECT_PORT"]), "gcs": int(settings["GCS_PORT"])}
    assert published == expected
    launcher_socket = services[launcher]["volumes"][0]
    assert launcher_socket["source"] == settings.get("DOCKER_SOCKET", "/var/run/docker.sock")
