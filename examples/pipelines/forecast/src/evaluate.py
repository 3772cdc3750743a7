"""RMSE and MAE of the model on the last 20% of rows."""

import argparse
import csv
import json
import math

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("features")
parser.add_argument("out")
args = parser.parse_args()

with open(args.model) as handle:
    model = json.load(handle)
with open(args.features) as handle:
    rows = [[float(v) for v in row.values()] for row in csv.DictReader(handle)]
test = rows[int(len(rows) * 0.8):]
errors = [model["intercept"] + model["lag1"] * r[0] + model["mean_w"] * r[1] - r[2] for r in test]
metrics = {
    "rmse": round(math.sqrt(sum(e * e for e in errors) / len(errors)), 5),
    "mae": round(sum(abs(e) for e in errors) / len(errors), 5),
    "rows": len(test),
}
with open(args.out, "w") as handle:
    json.dump(metrics, handle, indent=2)
