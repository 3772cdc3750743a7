"""train: HistGradientBoostingClassifier with params.yaml's train params -> models/model.joblib."""

import os

import joblib
import pandas as pd
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier

CATEGORIES = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
with open("params.yaml") as handle:
    params = yaml.safe_load(handle)["train"]
frame = pd.read_parquet("data/prepared/train.parquet")
label = frame.pop("label")
frame["cat"] = frame["cat"].astype(pd.CategoricalDtype(CATEGORIES))
model = HistGradientBoostingClassifier(
    learning_rate=params["learning_rate"], max_iter=params["max_iter"],
    max_leaf_nodes=params["max_leaf_nodes"], random_state=params["seed"],
    categorical_features="from_dtype", early_stopping=False)
model.fit(frame, label)
os.makedirs("models", exist_ok=True)
joblib.dump(model, "models/model.joblib")
