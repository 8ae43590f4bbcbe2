# One image for the three services: `portal-autopay run settings|autopay|notifier`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HTTP_HOST=0.0.0.0
WORKDIR /app

COPY pyproject.toml README.md ./
COPY services ./services
COPY schemas ./schemas
RUN pip install . && useradd --system --uid 10001 app && mkdir -p var/mail && chown app var/mail

USER app
ENTRYPOINT ["portal-autopay"]
CMD ["run", "settings"]
