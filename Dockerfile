# syntax=docker/dockerfile:1
# otlp-bridge container image.
#
#   docker build -t otlp-bridge .
#   docker run -p 4318:4318 -p 9464:9464 otlp-bridge [more options, e.g. --config /etc/otlp-bridge/bridge.yaml]
#
# Listens on 0.0.0.0 (the bridge's own default is 127.0.0.1, which is unreachable from outside a container).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/otlp-bridge
WORKDIR /src
COPY pyproject.toml README.md ./
COPY otlp_bridge ./otlp_bridge
RUN /opt/otlp-bridge/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/otlp-bridge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OTLP_BRIDGE_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz
RUN groupadd --system --gid 10001 otlp-bridge \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin otlp-bridge
COPY --from=build /opt/otlp-bridge /opt/otlp-bridge
USER 10001:10001
EXPOSE 4318 9464
# /healthz never needs a token. Set OTLP_BRIDGE_HEALTHCHECK_URL when the metrics listener moves or uses TLS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = os.environ['OTLP_BRIDGE_HEALTHCHECK_URL']; sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
ENTRYPOINT ["otlp-bridge", "--otlp-listen", "0.0.0.0:4318", "--metrics-listen", "0.0.0.0:9464"]
