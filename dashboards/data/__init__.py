"""The dashboards' one data-access package: every page reads through it, nothing else
talks to the store, the alerts API or the broker.

- :class:`CityData` (``readings.py``): latest values and history from the store.
- :class:`~dashboards.data.live.LiveFeed` (``live.py``): gateway statuses and analytics
  events from the broker (imported from its module: it needs paho-mqtt).
"""

from dashboards.data.readings import CityData

__all__ = ["CityData"]
