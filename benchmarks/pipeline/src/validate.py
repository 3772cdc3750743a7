"""validate: columns, nulls and labels of the prepared data -> reports/validation.json."""

import json
import os
import sys

import pandas as pd

expected = [f"f{i:02d}" for i in range(20)] + ["cat", "label"]
report = {}
for part in ("train", "test"):
    frame = pd.read_parquet(f"data/prepared/{part}.parquet")
    report[part] = {"rows": len(frame), "columns_ok": list(frame.columns) == expected,
                    "nulls": int(frame.isna().sum().sum()),
                    "labels_ok": bool(frame["label"].isin([0, 1]).all())}
os.makedirs("reports", exist_ok=True)
with open("reports/validation.json", "w") as handle:
    json.dump(report, handle, indent=2)
if not all(r["columns_ok"] and r["labels_ok"] and r["nulls"] == 0 for r in report.values()):
    sys.exit("validation failed")
