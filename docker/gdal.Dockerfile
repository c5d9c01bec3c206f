# GDAL with its Python bindings. BASE defaults to the official GDAL image, which
# ships osgeo.gdal; a plain Debian base (debian:bookworm-slim gives GDAL 3.6,
# debian:trixie-slim GDAL 3.10) gets Debian's python3-gdal instead.
ARG BASE=ghcr.io/osgeo/gdal:ubuntu-small-3.10.3
FROM ${BASE}

RUN set -eu; \
    if ! python3 -c "from osgeo import gdal; import numpy" 2>/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3-gdal python3-numpy \
        && rm -rf /var/lib/apt/lists/*; \
    fi; \
    useradd --uid 10001 --create-home --shell /usr/sbin/nologin zm 2>/dev/null \
        || echo "zm:x:10001:10001::/home/zm:/bin/false" >> /etc/passwd

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1
USER 10001
WORKDIR /zm/work
