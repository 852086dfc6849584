# watchdog-daemon: the daemon on the embedded default layout.
# Mount your own config.yaml, rules/, detectors/ and remediations/ over /etc/watchdog,
# and a volume on /var/lib/watchdog for the SQLite state.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/watchdog
COPY pyproject.toml README.md ./
COPY watchdog ./watchdog
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 watchdog \
    && useradd --system --uid 10001 --gid watchdog --home-dir /var/lib/watchdog --shell /usr/sbin/nologin watchdog \
    && mkdir -p /etc/watchdog/rules /etc/watchdog/detectors /etc/watchdog/remediations /var/lib/watchdog \
    && chown watchdog:watchdog /var/lib/watchdog

# The default layout: config.yaml names rules/, detectors/ and remediations/ relative to itself
# (detectors/ starts empty: mount yours there).
COPY --chown=root:root config.yaml /etc/watchdog/config.yaml
COPY --chown=root:root rules /etc/watchdog/rules
COPY --chown=root:root remediations /etc/watchdog/remediations

USER watchdog:watchdog
WORKDIR /var/lib/watchdog
VOLUME ["/var/lib/watchdog"]
EXPOSE 9797

# No curl in the slim image: ask /healthz with the interpreter we already have.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9797/healthz', timeout=4).status == 200 else 1)"]

# --listen overrides api.listen so the API is reachable from outside the container;
# --storage-path puts the SQLite state on the volume.
ENTRYPOINT ["watchdog"]
CMD ["run", "-c", "/etc/watchdog/config.yaml", "--listen", "0.0.0.0:9797", "--storage-path", "/var/lib/watchdog/watchdog.db"]
