# Heliograph's container image, built from this checkout with nothing but the Python package registry:
#
#     docker build -t heliograph .
#     docker run -d --init --name heliograph -p 8585:8585 -v heliograph-data:/var/lib/heliograph heliograph
#
# docs/deployment.md#container describes the volume, the settings and the Python evaluators' sandbox.
# No secret is baked in: keys, passwords and URLs come from the environment at `docker run`.

# The build stage installs the package and its dependencies into a virtual environment; only that
# environment goes into the image (no source tree, no build tools, no pip cache).
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/heliograph
WORKDIR /src
# What `pip install .` reads: the project (its readme is part of the metadata) and the package.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/heliograph/bin/pip install .

FROM python:3.11-slim-bookworm
# A user of its own, never root: the data directory is the only place the server writes.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/heliograph --shell /usr/sbin/nologin heliograph \
    && install -d -o heliograph -g heliograph -m 0750 /var/lib/heliograph
COPY --from=build /opt/heliograph /opt/heliograph
ENV PATH=/opt/heliograph/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    HELIOGRAPH_HOST=0.0.0.0 \
    HELIOGRAPH_PORT=8585 \
    HELIOGRAPH_DATA_DIR=/var/lib/heliograph
USER heliograph
WORKDIR /var/lib/heliograph
# The SQLite database, the initial API key and the generated secret key live here: keep it on a volume.
VOLUME ["/var/lib/heliograph"]
EXPOSE 8585
# /healthcheck answers without a key, with or without HELIOGRAPH_ROOT_PATH. The image has no curl:
# Python's standard library asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthcheck' % os.environ.get('HELIOGRAPH_PORT', '8585'), timeout=4)"]
# `docker run IMAGE keys create --org acme` runs another command against the same volume.
ENTRYPOINT ["heliograph"]
CMD ["serve"]
