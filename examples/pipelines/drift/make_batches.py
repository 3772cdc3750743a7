"""Write a reference batch and a new batch of loan applications (standard library only).

`--shift` moves the new batch's income by that many standard deviations: 0 gives a batch
from the reference's distribution, 1 a drifted one that the `check` stage stops.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from pathlib import Path

COLUMNS = ["age", "income", "region", "tenure_months", "defaulted"]
REGIONS = ["north", "south", "east", "west"]
INCOME_MEAN, INCOME_STD = 52_000.0, 9_000.0


def applications(rng: random.Random, rows: int, shift: float) -> list[list[object]]:
    """Seeded rows; default risk falls with income and tenure."""
    out = []
    for _ in range(rows):
        age = rng.randint(21, 70)
        income = round(rng.gauss(INCOME_MEAN + shift * INCOME_STD, INCOME_STD), 2)
        tenure = rng.randint(0, 120)
        score = 1.2 - (income - INCOME_MEAN) / INCOME_STD - tenure / 40 - (age - 21) / 50
        defaulted = int(rng.random() < 1 / (1 + math.exp(-score)))
        out.append([age, income, rng.choice(REGIONS), tenure, defaulted])
    return out


def write(path: Path, rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shift", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(Path("data/reference.csv"), applications(random.Random(args.seed), 800, 0.0))
    write(Path("data/batch.csv"), applications(random.Random(args.seed + 1), 400, args.shift))


if __name__ == "__main__":
    main()
