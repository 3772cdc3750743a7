"""Ridge regression y ~ lag1 + mean_w on the first 80% of rows, by the normal equations."""

import argparse
import csv
import json

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("features")
parser.add_argument("out")
args = parser.parse_args()

with open(args.features) as handle:
    rows = [[float(v) for v in row.values()] for row in csv.DictReader(handle)]
train = rows[: int(len(rows) * 0.8)]
xs = [[1.0, r[0], r[1]] for r in train]
ys = [r[2] for r in train]
n = 3
a = [[sum(x[i] * x[j] for x in xs) + (args.alpha if i == j and i else 0.0) for j in range(n)]
     for i in range(n)]
b = [sum(x[i] * y for x, y in zip(xs, ys, strict=True)) for i in range(n)]
for col in range(n):  # Gauss-Jordan elimination
    pivot = a[col][col]
    a[col] = [v / pivot for v in a[col]]
    b[col] /= pivot
    for row in range(n):
        if row != col:
            factor = a[row][col]
            a[row] = [v - factor * p for v, p in zip(a[row], a[col], strict=True)]
            b[row] -= factor * b[col]
with open(args.out, "w") as handle:
    json.dump({"intercept": b[0], "lag1": b[1], "mean_w": b[2], "alpha": args.alpha}, handle,
              indent=2)
