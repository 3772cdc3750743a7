"""Features per step: the previous value and the mean of the previous WINDOW values."""

import argparse
import csv

parser = argparse.ArgumentParser()
parser.add_argument("--window", type=int, required=True)
parser.add_argument("series")
parser.add_argument("out")
args = parser.parse_args()

with open(args.series) as handle:
    ys = [float(row["y"]) for row in csv.DictReader(handle)]
with open(args.out, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["lag1", "mean_w", "y"])
    for t in range(args.window, len(ys)):
        window = ys[t - args.window:t]
        writer.writerow([f"{ys[t - 1]:.5f}", f"{sum(window) / len(window):.5f}", ys[t]])
