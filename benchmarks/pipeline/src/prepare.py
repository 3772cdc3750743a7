"""prepare: read data/raw.csv, split it (seeded) into data/prepared/{train,test}.parquet."""

import os

import numpy as np
import pandas as pd
import yaml

with open("params.yaml") as handle:
    params = yaml.safe_load(handle)["prepare"]
frame = pd.read_csv("data/raw.csv", engine="pyarrow")
is_test = np.random.default_rng(params["seed"]).random(len(frame)) < params["test_size"]
os.makedirs("data/prepared", exist_ok=True)
frame[~is_test].to_parquet("data/prepared/train.parquet", index=False)
frame[is_test].to_parquet("data/prepared/test.parquet", index=False)
