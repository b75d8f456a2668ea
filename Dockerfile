# The hub's services (ingest, analytics, dashboard, edge simulator) in one image.
# Built in two stages: the ingester's decoder kernel (ingest/kernel.pyx) is compiled where
# a C compiler is, and only the installed result goes into the slim image.
FROM python:3.11 AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY cityhub cityhub
COPY edge edge
COPY ingest ingest
COPY stores stores
COPY subscriber subscriber
COPY analytics analytics
COPY alerts alerts
COPY accounts accounts
COPY dashboards dashboards
COPY demo demo
COPY devservices devservices
COPY broker broker
COPY firmware_configs firmware_configs
RUN pip install --no-cache-dir --prefix=/install '.[all]'

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /install /usr/local
# The packs as files too, for `cityhub edge run --gateway firmware_configs/...` (a name
# such as `bandung` is found in the installed package data).
COPY firmware_configs firmware_configs
ENTRYPOINT ["cityhub"]
