# A cell's Python environment: a Python base image with the cell's exact pins.
# BASE defaults to the official image; on an offline host, point it at a local
# Debian base (docker/bootstrap-debian.sh) and Debian's python3 is installed.
ARG BASE=python:3.11-slim
FROM ${BASE}

# A CA bundle for TLS-intercepting proxies (empty when none is given).
COPY ca-bundle.crt /usr/local/share/zarrmatrix/ca-bundle.crt
COPY requirements.txt /tmp/requirements.txt

RUN set -eu; \
    if ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi; \
    if [ -s /usr/local/share/zarrmatrix/ca-bundle.crt ]; then \
        export PIP_CERT=/usr/local/share/zarrmatrix/ca-bundle.crt; \
    fi; \
    python3 -m venv /opt/zm; \
    PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/zm/bin/pip install --no-cache-dir --compile -r /tmp/requirements.txt; \
    useradd --uid 10001 --create-home --shell /usr/sbin/nologin zm 2>/dev/null \
        || echo "zm:x:10001:10001::/home/zm:/bin/false" >> /etc/passwd

ENV PATH=/opt/zm/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1
USER 10001
WORKDIR /zm/work
