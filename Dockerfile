# The hub's services (ingest, dashboard, edge simulator) in one image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cityhub cityhub
COPY edge edge
COPY ingest ingest
COPY analytics analytics
COPY alerts alerts
COPY dashboards dashboards
COPY firmware_configs firmware_configs
RUN pip install --no-cache-dir '.[all]'
ENTRYPOINT ["cityhub"]
