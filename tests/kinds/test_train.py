"""The train kind: estimators by alias or path, preprocessing, seed, CV and search, meta."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree
from sklearn.base import is_classifier
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import train_test_split

from mlpipe.ml.estimators import ALIASES, build, import_path

TRAIN = """\
    params:
      C: 1.0
    stages:
      train:
        kind: train
        data: data/train.parquet
        target: species
        estimator: logistic_regression
        hyperparams: {C: "${params.C}", max_iter: 300}
      evaluate:
        kind: evaluate
        model: train.model
        data: data/test.parquet
        target: species
        plots: false
        gates: ["accuracy >= 0.5"]
"""


def iris_frame() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame


def write_split(root: Path, frame: pd.DataFrame, target: str, stratify: bool = True) -> None:
    """data/train.parquet and data/test.parquet: a fixed 70/30 split."""
    train, test = train_test_split(frame, test_size=0.3, random_state=0,
                                   stratify=frame[target] if stratify else None)
    (root / "data").mkdir(exist_ok=True)
    train.to_parquet(root / "data/train.parquet", index=False)
    test.to_parquet(root / "data/test.parquet", index=False)


def meta_of(root: Path, stage: str = "train") -> dict:
    return json.loads((root / f"out/{stage}/model_meta.json").read_text())


def stage_reason(result: object, stage: str) -> str:
    return next(s["reason"] for s in json.loads(result.stdout)["stages"] if s["name"] == stage)


def test_model_is_a_pipeline_predicting_like_plain_scikit_learn(project: Path,
                                                                mlpipe: Invoke) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": TRAIN})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "ran", "evaluate": "ran"}, result.stdout
    model = joblib.load(project / "out/train/model.joblib")
    train = pd.read_parquet(project / "data/train.parquet")
    test = pd.read_parquet(project / "data/test.parquet")
    plain = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300,
                                                               random_state=0))
    plain.fit(train.drop(columns="species"), train["species"])
    features = test.drop(columns="species")
    assert list(model.named_steps) == ["preprocess", "estimator"]
    np.testing.assert_allclose(model.predict_proba(features), plain.predict_proba(features))

    meta = meta_of(project)
    assert meta["task"] == "classification" and meta["target"] == "species"
    assert meta["classes"] == [0, 1, 2]
    assert meta["features"] == [{"name": c, "dtype": "float64"} for c in features.columns]
    assert meta["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert meta["params"] == {"C": 1.0, "max_iter": 300} and meta["seed"] == 0
    assert len(meta["training_data_hash"]) >= 32
    assert {"scikit-learn", "pandas", "python"} <= set(meta["library_versions"])


def test_a_hyperparam_edit_reruns_train_and_evaluate(project: Path, mlpipe: Invoke) -> None:
    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": TRAIN})
    assert mlpipe("run").exit_code == 0
    assert statuses(mlpipe("run", "--json")) == {"train": "cached", "evaluate": "cached"}
    edited = mlpipe("run", "--json", "-S", "C=0.05")
    assert statuses(edited) == {"train": "ran", "evaluate": "ran"}
    assert meta_of(project)["params"]["C"] == 0.05


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_alias_builds_and_fits(alias: str) -> None:
    iris = iris_frame().sample(60, random_state=1)
    diabetes = load_diabetes(as_frame=True).frame.head(60)
    model = build(alias, {}, 3, {}, iris.drop(columns="species"))
    classifier = is_classifier(model.named_steps["estimator"])
    frame, target = (iris, "species") if classifier else (diabetes, "target")
    model = build(alias, {}, 3, {}, frame.drop(columns=target))
    model.fit(frame.drop(columns=target), frame[target])
    assert model.predict(frame.drop(columns=target).head(5)).shape == (5,)
    estimator = model.named_steps["estimator"]
    assert type(estimator).__name__ == import_path(alias).rpartition(".")[2]
    if "random_state" in estimator.get_params():
        assert estimator.random_state == 3


def test_import_path_estimator_and_seed(project: Path, mlpipe: Invoke) -> None:
    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train:
            kind: train
            data: data/train.parquet
            target: species
            estimator: sklearn.tree.DecisionTreeClassifier
            hyperparams: {max_depth: 2}
            seed: 11
    """})
    assert mlpipe("run").exit_code == 0
    model = joblib.load(project / "out/train/model.joblib")
    tree = model.named_steps["estimator"]
    assert type(tree).__name__ == "DecisionTreeClassifier"
    assert tree.random_state == 11 and tree.get_depth() == 2
    assert meta_of(project)["estimator"] == "sklearn.tree.DecisionTreeClassifier"


@pytest.mark.parametrize(("field", "message"), [
    ("estimator: random_forrest", "unknown estimator 'random_forrest' "
                                  "(did you mean 'random_forest'?)"),
    ("estimator: nosuchpkg.Model", "no installed package 'nosuchpkg'"),
    ("estimator: ridge\n    preprocessing: {scale: log}", "scale must be one of"),
    ("estimator: ridge\n    preprocessing: {encode: yes}", "unknown preprocessing option"),
    ("estimator: ridge\n    task: clustering", "'task' must be one of"),
    ("estimator: ridge\n    cv: 1", "'cv' must be a number of folds"),
    ("estimator: ridge\n    search: {type: bayes, params: {alpha: [1]}}", "'search' needs"),
    ("estimator: ridge\n    search: {params: {alpha: 1}}", "params.alpha must be a non-empty"),
    ("estimator: ridge\n    hyperparams: [1, 2]", "'hyperparams' must be a mapping"),
])
def test_bad_config_is_a_load_error(project: Path, mlpipe: Invoke, field: str,
                                    message: str) -> None:
    write_tree(project, {"mlpipe.yaml": f"stages:\n  train:\n    kind: train\n"
                                        f"    data: d.parquet\n    target: y\n    {field}\n"})
    result = mlpipe("run")
    assert result.exit_code == 2
    assert result.stderr.startswith("mlpipe: error: ") and "mlpipe.yaml:" in result.stderr
    assert "stage 'train'" in result.stderr and message in result.stderr


@pytest.mark.parametrize(("estimator", "hyperparams", "message"), [
    ("sklearn.linear_model.LogisticRegresion", "{}",
     "has no class 'LogisticRegresion' (did you mean 'LogisticRegression'?)"),
    ("logistic_regression", "{max_iters: 5}",
     "LogisticRegression has no hyperparameter 'max_iters' (did you mean 'max_iter'?)"),
    ("ridge", "{}", "Ridge is a regressor but the task is classification"),
    ("logistic_regression", "{C: -1}", "fit failed"),
])
def test_estimator_problems_fail_the_stage_with_a_reason(
        project: Path, mlpipe: Invoke, estimator: str, hyperparams: str, message: str) -> None:
    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": f"""\
        stages:
          train:
            kind: train
            data: data/train.parquet
            target: species
            task: classification
            estimator: {estimator}
            hyperparams: {hyperparams}
    """})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    assert message in stage_reason(result, "train")
    assert not (project / "out/train/model.joblib").exists()


def test_categorical_columns_are_one_hot_encoded_inside_the_model(project: Path,
                                                                  mlpipe: Invoke) -> None:
    rng = np.random.default_rng(0)
    city = rng.choice(["oslo", "rome", "lima"], size=120)
    size = rng.uniform(20, 100, size=120)
    price = size * 2 + pd.Series(city).map({"oslo": 50, "rome": 0, "lima": -40}).to_numpy()
    frame = pd.DataFrame({"size": size, "city": city, "price": price})
    write_split(project, frame, "price", stratify=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train:
            kind: train
            data: data/train.parquet
            target: price
            estimator: linear_regression
            preprocessing: {impute: mean, scale: none, one_hot: true}
    """})
    result = mlpipe("run")
    assert result.exit_code == 0, result.stdout
    model = joblib.load(project / "out/train/model.joblib")
    encoder = model.named_steps["preprocess"].named_transformers_["categorical"]
    assert sorted(encoder[-1].categories_[0]) == ["lima", "oslo", "rome"]
    raw = pd.DataFrame({"size": [50.0, 50.0, np.nan], "city": ["oslo", "lima", "paris"]})
    predicted = model.predict(raw)
    assert predicted[0] == pytest.approx(150, abs=1e-6)
    assert predicted[1] == pytest.approx(60, abs=1e-6)
    assert np.isfinite(predicted[2])  # an unseen city and a missing size still predict
    meta = meta_of(project)
    assert meta["task"] == "regression" and meta["classes"] is None
    dtypes = {f["name"]: f["dtype"] for f in meta["features"]}
    assert dtypes["size"] == "float64" and dtypes["city"] in ("object", "str")


def test_cv_and_grid_search_record_their_results(project: Path, mlpipe: Invoke) -> None:
    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train:
            kind: train
            data: data/train.parquet
            target: species
            estimator: knn
            cv: 4
            search: {type: grid, params: {n_neighbors: [1, 5, 15]}, cv: 3}
          random:
            kind: train
            data: data/train.parquet
            target: species
            estimator: decision_tree
            search: {type: random, params: {max_depth: [1, 2, 3, 4]}, n_iter: 2}
    """})
    assert mlpipe("run").exit_code == 0
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = pd.read_parquet(project / "data/train.parquet")
    x, y = train.drop(columns="species"), train["species"]
    plain = GridSearchCV(make_pipeline(StandardScaler(), KNeighborsClassifier()),
                         {"kneighborsclassifier__n_neighbors": [1, 5, 15]}, cv=3).fit(x, y)
    meta = meta_of(project)
    best = plain.best_params_["kneighborsclassifier__n_neighbors"]
    assert meta["search"]["best_params"] == {"n_neighbors": best}
    assert meta["search"]["best_score"] == pytest.approx(plain.best_score_)
    assert meta["search"]["candidates"] == 3 and meta["params"]["n_neighbors"] == best
    scores = cross_val_score(plain.best_estimator_, x, y, cv=4)
    assert meta["cv"] == {"folds": 4, "mean": pytest.approx(scores.mean()),
                          "std": pytest.approx(scores.std())}
    random = meta_of(project, "random")["search"]
    assert random["type"] == "random" and random["candidates"] == 2
    assert random["best_params"]["max_depth"] in (1, 2, 3, 4)


def test_target_and_task_come_from_a_schema(project: Path, mlpipe: Invoke) -> None:
    frame = load_diabetes(as_frame=True).frame.head(120)
    write_split(project, frame, "target", stratify=False)
    write_tree(project, {"data/schema.json": json.dumps(
        {"columns": [], "rows": 120, "target": "target", "task": "regression"}),
        "mlpipe.yaml": """\
        stages:
          train: {kind: train, data: data/train.parquet, schema: data/schema.json,
                  estimator: ridge}
          nothing: {kind: train, data: data/train.parquet, estimator: ridge}
    """})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "ran", "nothing": "failed"}
    assert meta_of(project)["target"] == "target" and meta_of(project)["task"] == "regression"
    assert "no target" in stage_reason(result, "nothing")


def test_importing_the_kinds_does_not_import_the_ml_libraries() -> None:
    probe = ("import sys\nimport mlpipe.kinds.train, mlpipe.kinds.evaluate\n"
             "print(sorted(m for m in ('pandas', 'sklearn', 'joblib', 'matplotlib', 'scipy')"
             " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
