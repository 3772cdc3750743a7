"""Features per column: declared roles, inferred ones with a warning, all inside the model."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree
from test_train import meta_of

WORDS = ["late", "delivery", "great", "price", "broken", "box", "fast", "refund", "happy",
         "never", "again", "support", "quality", "small", "large"]


def _table(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01")
    frame = pd.DataFrame({
        "user_id": rng.permutation(rows) + 10_000,
        "income": rng.gamma(2.0, 20_000, rows),
        "city": rng.choice(["paris", "lyon", "nice", "lille", "brest", "metz"], rows,
                           p=[0.4, 0.3, 0.15, 0.1, 0.03, 0.02]),
        "notes": [" ".join(rng.choice(WORDS, 6)) for _ in range(rows)],
        "signed_up": [(start + pd.Timedelta(minutes=int(m))).isoformat()
                      for m in rng.integers(0, 500_000, rows)],
    })
    frame["churn"] = ((frame["notes"].str.contains("refund")) | (frame["income"] < 30_000)
                      ).astype(int)
    return frame


def _write(project: Path, frame: pd.DataFrame, fields: str = "") -> None:
    (project / "data").mkdir(exist_ok=True)
    frame.iloc[:450].to_csv(project / "data/train.csv", index=False)
    frame.iloc[450:].to_csv(project / "data/test.csv", index=False)
    write_tree(project, {"mlpipe.yaml": (
        "stages:\n  train:\n    kind: train\n    data: data/train.csv\n    target: churn\n"
        "    estimator: logistic_regression\n    hyperparams: {max_iter: 2000}\n" + fields)})


def test_text_timestamp_and_id_columns_are_inferred_with_a_warning(project: Path,
                                                                    mlpipe: Invoke) -> None:
    _write(project, _table())
    result = mlpipe("run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "column 'notes' looks like free text: TF-IDF" in out
    assert "column 'signed_up' looks like a timestamp: calendar parts" in out
    assert "column 'user_id' looks like an id: not a feature" in out
    assert meta_of(project)["feature_roles"] == {
        "user_id": "id", "income": "numeric", "city": "categorical", "notes": "text",
        "signed_up": "datetime"}
    model = joblib.load(project / "out/train/model.joblib")
    test = pd.read_csv(project / "data/test.csv").drop(columns="churn")
    width = model.named_steps["preprocess"].transform(test).shape[1]
    assert width == 1 + 6 + len(WORDS) + 6  # income, cities, vocabulary, date parts
    relabelled = test.assign(user_id=test["user_id"] + 999_999)
    np.testing.assert_array_equal(model.predict_proba(test), model.predict_proba(relabelled))
    assert (model.predict(test) == pd.read_csv(project / "data/test.csv")["churn"]).mean() > 0.8


def test_declared_roles_match_the_same_plain_scikit_learn_pipeline(project: Path,
                                                                    mlpipe: Invoke) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    frame = _table()
    _write(project, frame, """\
    features:
      user_id: ignore
      signed_up: ignore
      city: {role: categorical, encoding: ordinal, max_categories: 3}
      notes: {role: text, max_features: 8}
      income: {role: custom, transformer: sklearn.preprocessing.FunctionTransformer,
               params: {func: numpy.log1p}}
""")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "ran"}, result.output
    plain = make_pipeline(ColumnTransformer([
        ("categorical:city", make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                           max_categories=3)), ["city"]),
        ("text:notes", make_pipeline(SimpleImputer(strategy="constant", fill_value=""),
                                     FunctionTransformer(np.ravel),
                                     TfidfVectorizer(max_features=8)), ["notes"]),
        ("custom:income", FunctionTransformer(np.log1p), ["income"]),
    ]), LogisticRegression(max_iter=2000, random_state=0))
    train = pd.read_csv(project / "data/train.csv")
    plain.fit(train.drop(columns="churn"), train["churn"])
    test = pd.read_csv(project / "data/test.csv").drop(columns="churn")
    model = joblib.load(project / "out/train/model.joblib")
    np.testing.assert_allclose(model.predict_proba(test), plain.predict_proba(test),
                               rtol=0, atol=1e-9)
    assert model.named_steps["preprocess"].transform(test).shape[1] == 1 + 8 + 1


def test_a_parquet_datetime_column_trains(project: Path, mlpipe: Invoke) -> None:
    frame = _table()
    frame["signed_up"] = pd.to_datetime(frame["signed_up"]).dt.tz_localize("Europe/Paris")
    (project / "data").mkdir()
    frame.to_parquet(project / "data/train.parquet", index=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train:
            kind: train
            data: data/train.parquet
            target: churn
            estimator: random_forest
            hyperparams: {n_estimators: 20}
            features: {signed_up: datetime, user_id: id}
        """})
    result = mlpipe("run")
    assert result.exit_code == 0, result.output
    assert "signed_up" not in result.output  # declared: no warning
    model = joblib.load(project / "out/train/model.joblib")
    assert model.predict(frame.drop(columns="churn").head(3)).shape == (3,)


@pytest.mark.parametrize(("fields", "message"), [
    ("    features: {city: colour}\n", "features.city: role must be one of numeric"),
    ("    features: {city: {role: text, encoding: onehot}}\n",
     "features.city: unknown option 'encoding' for text (options: max_features)"),
    ("    features: {city: {role: categorical, max_categories: 1}}\n",
     "'max_categories' must be a whole number, at least 2"),
    ("    features: {city: custom}\n", "a custom role needs 'transformer: IMPORT.PATH'"),
    ("    features: [city]\n", "'features' maps each column to a role"),
])
def test_bad_features_are_one_line_from_check(project: Path, mlpipe: Invoke, fields: str,
                                              message: str) -> None:
    _write(project, _table(60), fields)
    result = mlpipe("check")
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_declared_column_that_is_not_there_fails_the_stage(project: Path,
                                                             mlpipe: Invoke) -> None:
    _write(project, _table(60), "    features: {town: categorical}\n")
    result = mlpipe("run")
    assert result.exit_code == 1
    assert "features.town: no such column in the training data" in result.output


@pytest.mark.parametrize(("name", "role"), [
    ("user_id", "id"), ("customerId", "id"), ("ID", "id"), ("paid", "numeric"),
    ("valid", "numeric"), ("width", "numeric"),
])
def test_only_id_like_names_make_unique_integers_an_id(name: str, role: str) -> None:
    from mlpipe.ml.features import plan

    frame = pd.DataFrame({name: np.arange(100)})
    assert plan(frame, None)[0].role == role
