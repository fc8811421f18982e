"""A small almanac of the planets: a research tool that answers from a fixed table, offline.

The figures are sidereal orbital periods in Earth days and mean distances
from the Sun in millions of km, from NASA's planetary fact sheets.
"""

from __future__ import annotations

#: planet -> (orbital period in days, mean distance from the Sun in million km)
PLANETS = {
    "mercury": (87.969, 57.9),
    "venus": (224.701, 108.2),
    "earth": (365.256, 149.6),
    "mars": (686.980, 228.0),
    "jupiter": (4332.59, 778.5),
    "saturn": (10759.22, 1432.0),
    "uranus": (30688.5, 2867.0),
    "neptune": (60195.0, 4515.0),
}


def lookup(planets: list[str]) -> list[str]:
    """For each planet named (in English): its orbital period in days and mean distance from the Sun in million km."""
    found = []
    for planet in planets:
        key = planet.strip().lower()
        if key not in PLANETS:
            raise ValueError(f"no planet named {planet!r}; the almanac knows {', '.join(p.title() for p in PLANETS)}")
        days, distance = PLANETS[key]
        found.append(f"{key.title()}: orbital period {days} days, mean distance from the Sun {distance} million km")
    return found
