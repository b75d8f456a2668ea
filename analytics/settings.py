"""The analytics service's settings file (``cityhub analytics run --config analytics.yaml``).

``pack: bandung`` serves one city; ``packs: [bandung, bogor]`` several in one process
(:class:`~cityhub.config.packs.CityPacks`), each city's service with the settings
:meth:`AnalyticsSettings.for_city` gives it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cityhub.config.packs import CityPacks
from cityhub.mqtt import BrokerSettings, explicit_protocol
from cityhub.store.settings import StoreSettings

__all__ = ["AnalyticsSettings", "DetectionSettings"]


class DetectionSettings(BaseModel):
    """When a condition becomes an event (docs/analytics.md gives each rule)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    congestion_on: float = Field(1.6, gt=1, description="TTI at which a road is congested")
    congestion_off: float = Field(1.3, ge=1, description="TTI at which it is free again")
    congestion_smoothing: float = Field(
        0.25, gt=0, le=1, description="weight of a new reading in the smoothed speed "
        "congestion is decided on (1: no smoothing)")
    incident_z_on: float = Field(3.0, gt=0, description="seasonal score of speed (down) "
                                 "and occupancy (up) that starts an incident")
    incident_z_off: float = Field(1.5, gt=0, description="speed score that clears it")
    incident_min_drop: float = Field(0.35, gt=0, lt=1, description="and speed at least this "
                                     "share below its normal for the slot of the week, "
                                     "relative to the city's")
    incident_min_rise: float = Field(0.25, ge=0, description="and occupancy at least this "
                                     "share above its normal for the slot of the week")
    incident_hold_s: float = Field(300.0, ge=0, description="how long the drop must last")
    baseline_weeks: int = Field(4, ge=1, le=12, description="weeks the seasonal baseline "
                                "keeps per hour of the week")
    baseline_min_weeks: int = Field(2, ge=1, description="earlier weeks a slot needs "
                                    "before incidents can be told in it")
    baseline_slot_s: int = Field(900, ge=60, le=3600, description="slot of the week the "
                                 "baseline keeps a mean of (divides an hour): a quarter "
                                 "of an hour follows a rush hour's ramps")
    anomaly_z: float = Field(4.0, gt=0, description="seasonal score of the flow (vehicles "
                             "per minute) that makes it unusual ...")
    anomaly_change: float = Field(1.0, gt=0, description="... and it at least (1 + this) "
                                  "times its normal, or at most its normal / (1 + this) ...")
    anomaly_min_flow: float = Field(5.0, ge=0, description="... and this many vehicles per "
                                    "minute away from it ...")
    anomaly_hold_s: float = Field(1800.0, ge=0, description="... for this long")
    lamp_hold_s: float = Field(600.0, ge=0, description="how long a lamp fault must last")
    rain_hold_s: float = Field(600.0, ge=0, description="how long heavy rain must last")
    drift_rain_mm_h: float = Field(0.2, gt=0, description="a rain gauge reading this much "
                                   "while the city's others are dry has drifted ...")
    drift_hold_s: float = Field(7200.0, ge=0, description="... once it has for this long")
    drift_flood_m: float = Field(0.3, gt=0, description="a river gauge whose level rose "
                                 "this much over drift_window_s while every gauge linked "
                                 "to it by the pack's rivers rose under a third of it, "
                                 "and the city's rain gauges read dry, has drifted (once "
                                 "for drift_hold_s) ...")
    drift_traffic_ratio: float = Field(0.2, gt=0, lt=1, description="a traffic sensor "
                                       "whose speed, against its normal for the slot of "
                                       "the week and relative to its corridor's, sits at "
                                       "least this share off over drift_window_s (the "
                                       "median) has drifted (once for drift_hold_s) ...")
    drift_window_s: float = Field(6 * 3600.0, ge=1200, description="... the window of that "
                                  "rise or median, and how long the city must have been "
                                  "dry")
    siaga_clear_m: float = Field(0.05, ge=0, description="a gauge goes back to a less "
                                 "severe Siaga level only this far under its threshold")
    rise_window_s: float = Field(3600.0, gt=0, description="window of the rate of rise")
    rise_points: int = Field(120, ge=8, le=2000, description="readings of a gauge the "
                             "rate of rise keeps in its window at most (spaced evenly: a "
                             "gauge read every minute keeps all of an hour's)")
    stuck_min_run: int = Field(10, ge=2, description="identical readings in a row that "
                               "make a sensor stuck")
    gap_factor: float = Field(2.5, ge=1, description="an interval this many times the "
                              "sensor's interval_s is a gap")
    gap_min_s: float = Field(300.0, ge=0, description="and at least this long")
    river_lag_days: float = Field(30.0, gt=0, le=366, description="history the live "
                                  "service correlates each gauge-to-gauge river link over "
                                  "(cityhub analytics rivers' lag) ...")
    river_lag_every_s: float = Field(6 * 3600.0, ge=60, description="... this often, "
                                     "and once at start ...")
    river_lag_min_correlation: float = Field(0.6, gt=0, le=1, description="... and, "
                                             "where the rises match at least this well, "
                                             "narrows the link's travel_h for its flood "
                                             "forecasts ...")
    river_lag_margin: float = Field(0.25, ge=0, le=1, description="... to the lag +/- "
                                    "this share of it and 10 minutes, within the pack's "
                                    "range")

    @model_validator(mode="after")
    def _ordered(self) -> DetectionSettings:
        if not self.congestion_off < self.congestion_on:
            raise ValueError("congestion_off must be below congestion_on")
        if not self.incident_z_off < self.incident_z_on:
            raise ValueError("incident_z_off must be below incident_z_on")
        if self.baseline_min_weeks > self.baseline_weeks:
            raise ValueError("baseline_min_weeks cannot exceed baseline_weeks")
        return self


class AnalyticsSettings(CityPacks):
    """Everything the analytics service needs; validated once at start-up. ``pack`` (one
    city) or ``packs`` (several, one service each in one process): read ``pack_names``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    broker: BrokerSettings = BrokerSettings()
    store: StoreSettings = StoreSettings()
    client_id: str = Field("cityhub-analytics-1", description="stable: it names the session "
                           "(with several packs, each city's is this + '-{city}')")
    shared_group: str | None = Field(
        "analytics", description="$share group of the telemetry subscription (its own, "
        "apart from the ingester's); null for a plain subscription. Run one member per "
        "city: the state of a device lives in one process")
    batch_readings: int = Field(5000, ge=1, le=100_000,
                                description="readings per micro-batch at most")
    flush_interval_s: float = Field(0.25, gt=0, le=60, description="a micro-batch is "
                                    "processed at the latest this long after its first "
                                    "message")
    max_inflight: int = Field(
        2000, ge=1, le=65535, description="unacknowledged messages at once: bounds memory "
        "while the store is slow or down; the broker holds the rest")
    max_future_s: float = Field(300.0, ge=0)
    state_dir: str = Field("var/analytics", description="checkpoint, inbox log and event "
                           "journal (with several packs, each city's in a subdirectory "
                           "named after its id)")
    checkpoint_interval_s: float = Field(
        30.0, gt=0, le=3600, description="the engine's state is saved this often (and the "
        "inbox log emptied): a restart runs at most this much of the log again")
    checkpoint_log_bytes: int = Field(
        64 << 20, ge=1 << 16, description="or once the inbox log holds this many bytes")
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve /metrics and /healthz here (0: any free "
        "port, null: off); with several packs one endpoint, every sample labelled city")
    detection: DetectionSettings = DetectionSettings()

    @field_validator("broker")
    @classmethod
    def _explicit_protocol(cls, broker: BrokerSettings) -> BrokerSettings:
        return explicit_protocol(broker, "the analytics service")

    def for_city(self, city: str, pack: str) -> AnalyticsSettings:
        """The settings of city ``city``'s service (its pack ``pack``) where the cities are
        named (``packs``, :attr:`per_city`): its own session (``{client_id}-{city}``, events
        ``{client_id}-{city}-events``) and state directory (``{state_dir}/{city}``), and no
        metrics endpoint of its own (the process serves one for every city). With
        ``pack``: these settings, unchanged."""
        if not self.per_city:
            return self
        return self.model_copy(update={
            "pack": pack, "packs": (), "client_id": f"{self.client_id}-{city}",
            "state_dir": str(Path(self.state_dir) / city), "metrics_port": None})
