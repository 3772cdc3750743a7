"""Write a seeded series: trend + yearly season + noise."""

import argparse
import csv
import math
import random

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, required=True)
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

rng = random.Random(args.seed)
with open(args.out, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["t", "y"])
    for t in range(args.rows):
        y = 0.01 * t + 3 * math.sin(2 * math.pi * t / 52) + rng.gauss(0, 0.5)
        writer.writerow([t, f"{y:.5f}"])
