"""Any scikit-learn-compatible estimator through `mlpipe run`, matched against plain fits.

xgboost and LightGBM (the `boost` extra, installed with `dev`), `**kwargs` parameters, the
seed as random_state, nested estimators and callables written in YAML, fit params with an
eval set from the split and early stopping, and sample weights from a column.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from test_train import iris_frame, meta_of, write_split

TOL = {"rtol": 0, "atol": 1e-9}


def _run(project: Path, mlpipe: Invoke, train: str) -> object:
    write_tree(project, {"mlpipe.yaml": "stages:\n  train:\n    kind: train\n"
                                        "    data: data/train.parquet\n" + train})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "ran"}, result.output
    return joblib.load(project / "out/train/model.joblib")


def _plain(estimator: object, project: Path, target: str, drop: tuple[str, ...] = (),
           **fit: object) -> tuple[object, pd.DataFrame]:
    train = pd.read_parquet(project / "data/train.parquet")
    test = pd.read_parquet(project / "data/test.parquet")
    features = train.drop(columns=[target, *drop])
    plain = make_pipeline(StandardScaler(), estimator)
    plain.fit(features, train[target], **fit)
    return plain, test.drop(columns=[target, *drop])


def _cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


def test_xgboost_takes_its_kwargs_and_the_seed(project: Path, mlpipe: Invoke) -> None:
    from xgboost import XGBClassifier

    write_split(project, iris_frame(), "species")
    model = _run(project, mlpipe, """\
    target: species
    estimator: xgboost.XGBClassifier
    hyperparams: {n_estimators: 50, max_depth: 3, subsample: 0.8, n_jobs: 1}
    seed: 7
""")
    estimator = model.named_steps["estimator"]
    assert estimator.get_params()["random_state"] == 7 and estimator.n_estimators == 50
    plain, test = _plain(XGBClassifier(n_estimators=50, max_depth=3, subsample=0.8, n_jobs=1,
                                       random_state=7), project, "species")
    np.testing.assert_allclose(model.predict_proba(test), plain.predict_proba(test), **TOL)


def test_lightgbm_verbose_eval_set_and_early_stopping_callback(project: Path,
                                                               mlpipe: Invoke) -> None:
    write_split(project, _cancer(), "target")
    model = _run(project, mlpipe, """\
    target: target
    estimator: lightgbm.LGBMClassifier
    hyperparams: {n_estimators: 400, learning_rate: 0.2, verbose: -1, n_jobs: 1}
    eval_set: 0.2
    fit_params:
      callbacks: [{call: lightgbm.early_stopping, params: {stopping_rounds: 5, verbose: false}}]
""")
    estimator = model.named_steps["estimator"]
    assert 0 < estimator.best_iteration_ < 400  # stopped early on the held-out rows
    meta = meta_of(project)
    train_rows = len(pd.read_parquet(project / "data/train.parquet"))
    assert meta["fit"]["eval_set_rows"] == round(train_rows * 0.2)
    assert meta["rows"] == train_rows - meta["fit"]["eval_set_rows"]
    assert meta["fit"]["fit_params"] == ["callbacks"]


def test_xgboost_early_stopping_rounds_watch_the_eval_set(project: Path, mlpipe: Invoke) -> None:
    write_split(project, _cancer(), "target")
    model = _run(project, mlpipe, """\
    target: target
    estimator: xgboost.XGBClassifier
    hyperparams: {n_estimators: 500, learning_rate: 0.3, early_stopping_rounds: 5, n_jobs: 1}
    eval_set: 0.25
    fit_params: {verbose: false}
""")
    assert 0 < model.named_steps["estimator"].best_iteration < 499


def test_a_misspelling_still_gets_did_you_mean(project: Path, mlpipe: Invoke) -> None:
    write_split(project, load_diabetes(as_frame=True).frame, "target", stratify=False)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train:
            kind: train
            data: data/train.parquet
            target: target
            estimator: ridge
            hyperparams: {alpah: 2.0}
        """})
    result = mlpipe("run")
    assert result.exit_code == 1
    assert "Ridge has no hyperparameter 'alpah' (did you mean 'alpha'?)" in result.output


def test_nested_estimator_calibrated_classifier(project: Path, mlpipe: Invoke) -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    write_split(project, _cancer(), "target")
    model = _run(project, mlpipe, """\
    target: target
    estimator: sklearn.calibration.CalibratedClassifierCV
    hyperparams:
      estimator: {estimator: sklearn.svm.LinearSVC, params: {C: 0.5}}
      cv: 3
""")
    plain, test = _plain(CalibratedClassifierCV(LinearSVC(C=0.5, random_state=0), cv=3),
                         project, "target")
    np.testing.assert_allclose(model.predict_proba(test), plain.predict_proba(test), **TOL)


def test_transformed_target_with_functions_by_import_path(project: Path,
                                                          mlpipe: Invoke) -> None:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge

    write_split(project, load_diabetes(as_frame=True).frame, "target", stratify=False)
    model = _run(project, mlpipe, """\
    target: target
    estimator: sklearn.compose.TransformedTargetRegressor
    hyperparams:
      regressor: {estimator: ridge, params: {alpha: 0.3}}
      func: numpy.log1p
      inverse_func: numpy.expm1
""")
    plain, test = _plain(TransformedTargetRegressor(Ridge(alpha=0.3), func=np.log1p,
                                                    inverse_func=np.expm1), project, "target")
    np.testing.assert_allclose(model.predict(test), plain.predict(test), **TOL)


def test_tuned_threshold_classifier_with_a_default_base_estimator(project: Path,
                                                                  mlpipe: Invoke) -> None:
    write_split(project, _cancer(), "target")
    model = _run(project, mlpipe, """\
    target: target
    estimator: sklearn.model_selection.TunedThresholdClassifierCV
    hyperparams: {estimator: sklearn.linear_model.LogisticRegression, scoring: balanced_accuracy}
""")
    tuned = model.named_steps["estimator"]
    assert type(tuned.estimator).__name__ == "LogisticRegression"
    assert 0 < tuned.best_threshold_ < 1


def test_sample_weights_from_a_column(project: Path, mlpipe: Invoke) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = iris_frame()
    frame["weight"] = np.where(frame["species"] == 2, 5.0, 1.0)
    write_split(project, frame, "species")
    model = _run(project, mlpipe, """\
    target: species
    estimator: logistic_regression
    hyperparams: {max_iter: 500}
    sample_weight: weight
""")
    train = pd.read_parquet(project / "data/train.parquet")
    plain, test = _plain(LogisticRegression(max_iter=500, random_state=0), project, "species",
                         drop=("weight",),
                         logisticregression__sample_weight=train["weight"].to_numpy())
    np.testing.assert_allclose(model.predict_proba(test), plain.predict_proba(test), **TOL)
    unweighted, _ = _plain(LogisticRegression(max_iter=500, random_state=0), project,
                           "species", drop=("weight",))
    assert not np.allclose(unweighted.predict_proba(test), plain.predict_proba(test))
    assert "weight" not in [f["name"] for f in meta_of(project)["features"]]


@pytest.mark.parametrize(("extra", "message"), [
    ("    hyperparams: {estimator: {estimator: ridge, call: x}}\n",
     "hyperparams.estimator: write {estimator: IMPORT.PATH"),
    ("    hyperparams: {estimator: {estimator: ridge, params: 3}}\n",
     "hyperparams.estimator: 'params' must be a mapping"),
    ("    eval_set: 1.5\n", "'eval_set' is the fraction of training rows held out"),
    ("    sample_weight: species\n", "'sample_weight' cannot be the target column"),
    ("    fit_params: [verbose]\n", "'fit_params' must be a mapping"),
])
def test_bad_fit_and_nesting_fields_are_one_line_from_check(project: Path, mlpipe: Invoke,
                                                            extra: str, message: str) -> None:
    write_tree(project, {"data/train.parquet": "", "mlpipe.yaml": (
        "stages:\n  train:\n    kind: train\n    data: data/train.parquet\n"
        "    target: species\n    estimator: logistic_regression\n" + extra)})
    result = mlpipe("check")
    assert result.exit_code == 2
    assert message in result.output and "stage 'train'" in result.output, result.output


def test_a_nested_path_that_cannot_be_imported_fails_the_stage(project: Path,
                                                               mlpipe: Invoke) -> None:
    write_split(project, iris_frame(), "species")
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          train:
            kind: train
            data: data/train.parquet
            target: species
            estimator: logistic_regression
            fit_params: {callbacks: [{call: numpy.no_such_thing}]}
        """})
    result = mlpipe("run", "--json")
    assert statuses(result) == {"train": "failed"}
    reason = json.loads(result.stdout)["stages"][0]["reason"]
    assert "fit_params.callbacks[0]: cannot import numpy.no_such_thing" in reason
