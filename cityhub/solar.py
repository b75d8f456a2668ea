"""The sun's elevation at a place and time (NOAA's approximate solar position equations).

Accurate to a fraction of a degree between 1901 and 2099, which is plenty to tell day from
night for street lighting. Pure Python, no dependencies: edge agents use it to switch
simulated lamps, analytics to judge "burning by day" and "dark at night" faults.
"""

from __future__ import annotations

import math

__all__ = ["sun_elevation"]


def sun_elevation(lat: float, lon: float, unix_s: float) -> float:
    """Elevation of the sun's centre above the horizon, in degrees (no refraction)."""
    jd = unix_s / 86400.0 + 2440587.5
    t = (jd - 2451545.0) / 36525.0
    l0 = (280.46646 + t * (36000.76983 + 0.0003032 * t)) % 360
    m = 357.52911 + t * (35999.05029 - 0.0001537 * t)
    e = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    mr = math.radians(m)
    c = (math.sin(mr) * (1.914602 - t * (0.004817 + 0.000014 * t))
         + math.sin(2 * mr) * (0.019993 - 0.000101 * t) + math.sin(3 * mr) * 0.000289)
    true_long = l0 + c
    omega = 125.04 - 1934.136 * t
    app_long = true_long - 0.00569 - 0.00478 * math.sin(math.radians(omega))
    eps0 = 23 + (26 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60) / 60
    eps = eps0 + 0.00256 * math.cos(math.radians(omega))
    decl = math.asin(math.sin(math.radians(eps)) * math.sin(math.radians(app_long)))
    y = math.tan(math.radians(eps / 2)) ** 2
    l0r = math.radians(l0)
    eq_time = 4 * math.degrees(
        y * math.sin(2 * l0r) - 2 * e * math.sin(mr) + 4 * e * y * math.sin(mr) * math.cos(2 * l0r)
        - 0.5 * y * y * math.sin(4 * l0r) - 1.25 * e * e * math.sin(2 * mr))
    minutes_utc = (unix_s % 86400.0) / 60.0
    true_solar = (minutes_utc + eq_time + 4 * lon) % 1440
    hour_angle = true_solar / 4 - 180
    lat_r = math.radians(lat)
    cos_zenith = (math.sin(lat_r) * math.sin(decl)
                  + math.cos(lat_r) * math.cos(decl) * math.cos(math.radians(hour_angle)))
    return 90.0 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))
