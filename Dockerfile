# The taxi_etl image. One image runs every Python service of docker-compose.yml (Prefect
# server, agent or worker, offline mirror) and every flow run they start, so the code the
# deployments point at (path /opt/prefect/flows, entrypoint
# src/taxi_etl/flows.py:etl_parent_flow) is exactly the code that is installed.
#
#   docker build -t taxi-etl:local .
#   docker build --build-arg BASE_IMAGE=local/python:3.11-bookworm -t taxi-etl:local .
#   docker build --build-arg PREFECT_LINE=3 -t taxi-etl:prefect3 .
#
# PREFECT_LINE picks the pinned set: 2 (the default) installs constraints.txt, the
# Prefect 2 line the agent runs; 3 installs constraints-prefect3.txt, the Prefect 3 line
# the worker of docker-compose.prefect3.yml runs. The two lines never share an image.
# BASE_IMAGE is any Debian-based Python 3.11 with `venv`; the default is the public image.
# Machines with no registry use the debootstrap image from scripts/docker-setup.sh, and
# machines behind an intercepting proxy put its CA bundle in docker/build-ca/ (see there).
# Works with the legacy builder and BuildKit alike: no RUN --mount, no syntax line.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- build: a venv with the pinned dependencies, then the package (editable) --------
FROM ${BASE_IMAGE} AS build
ARG PREFECT_LINE=2
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
COPY docker/build-ca/ /tmp/build-ca/
COPY pyproject.toml constraints.txt constraints-prefect3.txt /tmp/deps/
# Dependencies alone first, at the exact versions of the line's constraints (the set the
# tests pass with): this slow layer (about a minute) is only rebuilt when pyproject.toml
# or the constraints change, not on every code change. The test
# suites of pandas, numpy and pyarrow (about 80 MB) are never imported at run time;
# tornado's (a Dask dependency) also holds a test TLS key, which the image scan rejects.
RUN set -eu; \
    case "${PREFECT_LINE}" in \
        2) constraints=/tmp/deps/constraints.txt ;; \
        3) constraints=/tmp/deps/constraints-prefect3.txt ;; \
        *) echo "PREFECT_LINE must be 2 or 3, not ${PREFECT_LINE}" >&2; exit 2 ;; \
    esac; \
    if [ -s /tmp/build-ca/ca-certificates.crt ]; then \
        export PIP_CERT=/tmp/build-ca/ca-certificates.crt; \
    fi; \
    /opt/venv/bin/python -c "import tomllib; \
deps = tomllib.load(open('/tmp/deps/pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(deps))" >/tmp/deps/requirements.txt; \
    /opt/venv/bin/pip install --quiet -c "$constraints" \
        -r /tmp/deps/requirements.txt "setuptools>=77" wheel; \
    /opt/venv/bin/pip check; \
    cd /opt/venv/lib/python3.11/site-packages; \
    rm -rf pandas/tests pyarrow/tests pyarrow/include tornado/test; \
    find numpy -type d -name tests -prune -exec rm -rf {} +
COPY pyproject.toml README.m[d] /opt/prefect/flows/
COPY src/ /opt/prefect/flows/src/
# Editable: the installed package *is* /opt/prefect/flows/src, the one copy that both
# `import taxi_etl` and the deployment entrypoint load. No network needed here.
RUN /opt/venv/bin/pip install --quiet --no-deps --no-build-isolation \
        --editable /opt/prefect/flows \
    && /opt/venv/bin/python -m compileall -q /opt/prefect/flows/src \
    && /opt/venv/bin/python -c "import taxi_etl.flows"

# ---- runtime: the venv and the code, a non-root user, no build tools or CA extras ----
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --gid 10001 taxi \
    && useradd --uid 10001 --gid 10001 --home-dir /home/taxi --create-home \
        --shell /usr/sbin/nologin taxi \
    && install -d -o 10001 -g 10001 /home/taxi/.prefect /tmp/taxi-etl /tmp/taxi-etl/cache \
        /var/lib/taxi-etl
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/prefect/flows /opt/prefect/flows
COPY docker/healthcheck.py /opt/taxi-etl/healthcheck.py
# PREFECT_UI_STATIC_DIRECTORY: a non-root server must copy the UI somewhere writable.
# TAXI_ETL_CACHE: the working directory (the code) is read-only for the flow user.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PREFECT_HOME=/home/taxi/.prefect \
    PREFECT_UI_STATIC_DIRECTORY=/home/taxi/ui \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PREFECT_LOGGING_EXTRA_LOGGERS=taxi_etl \
    TAXI_ETL_CACHE=/tmp/taxi-etl/cache
WORKDIR /opt/prefect/flows
USER 10001:10001
CMD ["taxi-etl", "--help"]
