"""mlpipe's ML stages against a plain scikit-learn script doing the same work, at scale.

    python benchmarks/ml_scale.py [--rows 2000000] [--cols 30] [--keep DIR]

Generates a seeded classification table (`--cols` float features, label 0/1) as Parquet,
then, each in a fresh process, runs:

- mlpipe: `mlpipe run` of ingest (80/20 stratified split) -> train (HistGradientBoosting,
  100 iterations, median impute + standard scale in the Pipeline) -> evaluate (metrics and
  plots: the default bounded permutation importance);
- plain: one Python script that reads the Parquet file, makes the same split, fits the same
  Pipeline, computes the same metrics and draws the same plots.

Prints each side's CPU time (user + system of the process and its children) and peak
resident memory, and the ratio. The plain script writes nothing that mlpipe's run writes
(the split tables, the model file, the lock and cache), so the comparison counts that work
against mlpipe.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PIPELINE = """\
stages:
  ingest: {kind: ingest, path: data.parquet, target: label, test_size: 0.2, seed: 0}
  train:
    kind: train
    data: ingest.train
    schema: ingest.schema
    estimator: hist_gradient_boosting
    hyperparams: {max_iter: 100, early_stopping: false}
  evaluate: {kind: evaluate, model: train.model, data: ingest.test, schema: ingest.schema}
"""

PLAIN = """\
import math, sys
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from sklearn import metrics as m
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

root = Path(sys.argv[1])
frame = pd.read_parquet(root / "data.parquet")
train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=frame["label"])
x, y = train.drop(columns="label"), train["label"]
model = Pipeline([("preprocess", ColumnTransformer([("numeric", make_pipeline(
    SimpleImputer(strategy="median"), StandardScaler()), list(x.columns))])),
    ("estimator", HistGradientBoostingClassifier(max_iter=100, early_stopping=False,
                                                 random_state=0))])
model.fit(x, y)
tx, ty = test.drop(columns="label"), test["label"]
predicted, proba = model.predict(tx), model.predict_proba(tx)
found = {"accuracy": m.accuracy_score(ty, predicted),
         "balanced_accuracy": m.balanced_accuracy_score(ty, predicted),
         "f1_macro": m.f1_score(ty, predicted, average="macro"),
         "mcc": m.matthews_corrcoef(ty, predicted),
         "roc_auc": m.roc_auc_score(ty, proba[:, 1]),
         "average_precision": m.average_precision_score(ty, proba[:, 1]),
         "log_loss": m.log_loss(ty, proba)}
out = root / "plain_plots"
out.mkdir(exist_ok=True)
m.ConfusionMatrixDisplay.from_estimator(model, tx, ty).figure_.savefig(out / "cm.png", dpi=80)
for name, curve in (("roc.png", m.RocCurveDisplay), ("pr.png", m.PrecisionRecallDisplay)):
    fig, ax = plt.subplots()
    for i, cls in enumerate(model.classes_):
        curve.from_predictions(ty == cls, proba[:, i], ax=ax, name=str(cls))
    fig.savefig(out / name, dpi=80)
sample = tx.sample(min(10_000, len(tx)), random_state=0)
permutation_importance(model, sample, ty.loc[sample.index], n_repeats=1, random_state=0)
print(found["roc_auc"])
"""


def make_table(path: Path, rows: int, cols: int) -> None:
    """A seeded table: `cols` standard-normal features and a logistic label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    values = rng.standard_normal((rows, cols))
    weights = rng.standard_normal(cols)
    frame = pd.DataFrame(values, columns=[f"f{i:02d}" for i in range(cols)])
    logits = values @ weights * 0.3
    frame["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype("int64")
    frame.to_parquet(path, index=False)


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of a command run in a child process of its own."""
    probe = ("import resource, subprocess, sys\n"
             "done = subprocess.run(sys.argv[1:])\n"
             "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
             "print(f'{u.ru_utime + u.ru_stime} {u.ru_maxrss}', file=sys.stderr)\n"
             "sys.exit(done.returncode)\n")
    done = subprocess.run([sys.executable, "-c", probe, *command], cwd=cwd,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stdout}\n{done.stderr}")
    cpu, rss_kb = done.stderr.strip().splitlines()[-1].split()
    return float(cpu), float(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cols", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        make_table(root / "data.parquet", args.rows, args.cols)
        (root / "mlpipe.yaml").write_text(PIPELINE, encoding="utf-8")
        (root / "plain.py").write_text(textwrap.dedent(PLAIN), encoding="utf-8")
        mlpipe = Path(sys.executable).with_name("mlpipe")
        ml_cpu, ml_rss = measure([str(mlpipe), "run", "--force"], root)
        plain_cpu, plain_rss = measure([sys.executable, "plain.py", str(root)], root)
    print(f"table: {args.rows:,} rows x {args.cols} float features (Parquet)")
    print(f"{'':8}{'CPU s':>10}{'peak MB':>10}")
    print(f"{'mlpipe':8}{ml_cpu:>10.1f}{ml_rss:>10.0f}")
    print(f"{'plain':8}{plain_cpu:>10.1f}{plain_rss:>10.0f}")
    print(f"{'ratio':8}{ml_cpu / plain_cpu:>10.2f}{ml_rss / plain_rss:>10.2f}")


if __name__ == "__main__":
    main()
