"""evaluate: accuracy and ROC AUC of the model on the test split -> metrics.json."""

import json

import joblib
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

CATEGORIES = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
frame = pd.read_parquet("data/prepared/test.parquet")
label = frame.pop("label")
frame["cat"] = frame["cat"].astype(pd.CategoricalDtype(CATEGORIES))
model = joblib.load("models/model.joblib")
scores = model.predict_proba(frame)[:, 1]
metrics = {"accuracy": accuracy_score(label, scores > 0.5), "roc_auc": roc_auc_score(label, scores)}
with open("metrics.json", "w") as handle:
    json.dump(metrics, handle, indent=2)
