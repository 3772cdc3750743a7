"""Write a seeded synthetic classification CSV: f00..f19 (float), cat (8 levels), label (0/1).

    python benchmarks/make_data.py OUT.csv --mb 100

About 197 bytes a row, so 100 MB is about 508,000 rows. The same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

BYTES_PER_ROW = 197
FEATURES = 20
CATEGORIES = ("alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta")


def write(out: Path, rows: int, seed: int = 0, chunk: int = 100_000) -> None:
    """Write `rows` rows to `out` in chunks (memory stays flat), then rename it into place."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(FEATURES) * (rng.random(FEATURES) > 0.4)
    effects = rng.standard_normal(len(CATEGORIES))
    cats = np.array(CATEGORIES)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            x = rng.standard_normal((n, FEATURES))
            c = rng.integers(0, len(cats), n)
            logit = x @ weights + effects[c] + 0.5 * rng.standard_normal(n)
            frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(FEATURES)])
            frame["cat"] = cats[c]
            frame["label"] = (logit > 0).astype("int8")
            frame.to_csv(handle, index=False, header=start == 0, float_format="%.6f")
    partial.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--mb", type=float, default=100.0, help="approximate size in MB")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, int(args.mb * 1e6 / BYTES_PER_ROW), args.seed)


if __name__ == "__main__":
    main()
