# A Node cell (zarrita.js): Debian's nodejs and npm, and the cell's exact npm pins in /opt/zm/node_modules.
# The probes find those through a node_modules link laid beside them in the work folder at run time.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# A CA bundle for TLS-intercepting proxies (empty when none is given).
COPY ca-bundle.crt /usr/local/share/zarrmatrix/ca-bundle.crt
COPY requirements.txt /tmp/requirements.txt

RUN set -eu; \
    apt-get update && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    if [ -s /usr/local/share/zarrmatrix/ca-bundle.crt ]; then \
        export NODE_EXTRA_CA_CERTS=/usr/local/share/zarrmatrix/ca-bundle.crt; \
        npm config set cafile /usr/local/share/zarrmatrix/ca-bundle.crt; \
    fi; \
    mkdir -p /opt/zm && cd /opt/zm && echo '{"name": "zarrmatrix-cell", "private": true, "type": "module"}' > package.json; \
    npm install --no-audit --no-fund --ignore-scripts --save-exact --loglevel=error $(cat /tmp/requirements.txt); \
    useradd --uid 10001 --create-home --shell /usr/sbin/nologin zm 2>/dev/null \
        || echo "zm:x:10001:10001::/home/zm:/bin/false" >> /etc/passwd

ENV NODE_NO_WARNINGS=1
USER 10001
WORKDIR /zm/work
