# syntax=docker/dockerfile:1
# The GitHub Action's image. The runner overrides WORKDIR (--workdir /github/workspace),
# so the entrypoint is absolute.

FROM python:3.13-slim AS build
WORKDIR /src
COPY requirements/build.txt requirements/build.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY schema ./schema
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.13-slim
LABEL org.opencontainers.image.title="cloudbase-rollout" \
      org.opencontainers.image.description="Roll out a WeChat CloudBase Run service version from CI" \
      org.opencontainers.image.licenses="MIT"
COPY requirements/runtime.txt /tmp/runtime.txt
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes -r /tmp/runtime.txt \
 && pip install --no-cache-dir --disable-pip-version-check --no-deps /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels /tmp/runtime.txt /root/.cache
COPY entrypoint.py /app/entrypoint.py
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["/usr/local/bin/python", "/app/entrypoint.py"]
