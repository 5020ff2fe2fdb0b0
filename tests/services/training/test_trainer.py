"""The pure training function: data in, metrics and an ONNX artifact out, nothing pickled."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numpy.typing import NDArray

from services.training.trainer import (
    TrainingCancelled,
    TrainingError,
    export_onnx,
    fit_model,
    load_rows,
    report_for,
    train,
)
from services.training.training_run import FeatureColumn, TrainingSpec

FEATURES = (
    FeatureColumn("size", "number"),
    FeatureColumn("colour", "string"),
    FeatureColumn("fresh", "string"),
)


def write_dataset(path: Path, rows: int = 160, seed: int = 0) -> Path:
    """Numbers with gaps, a categorical column with gaps, a boolean, and three kinds of target."""
    rng = np.random.default_rng(seed)
    size = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    fresh = rng.random(rows) > 0.5
    score = 3 * size + (colour == "red") * 2 + fresh + rng.normal(scale=0.1, size=rows)
    table = pa.table(
        {
            "size": [None if i % 11 == 0 else float(v) for i, v in enumerate(size)],
            "colour": [None if i % 7 == 0 else str(v) for i, v in enumerate(colour)],
            "fresh": fresh.tolist(),
            "bought": np.where(score > 0.5, "yes", "no").tolist(),
            "grade": np.where(score > 2, "A", np.where(score > -1, "B", "C")).tolist(),
            "score": score.tolist(),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data.parquet")


def spec(**overrides: Any) -> TrainingSpec:
    values: dict[str, Any] = {
        "task": "classification",
        "model": "logistic_regression",
        "target": "bought",
        "features": FEATURES,
    }
    return TrainingSpec(**{**values, **overrides})


def onnx_feeds(x: NDArray[Any], features: tuple[FeatureColumn, ...]) -> dict[str, NDArray[Any]]:
    """The rows as the inference service feeds them: [N, 1] per feature, float32 or string."""
    feeds: dict[str, NDArray[Any]] = {}
    for i, feature in enumerate(features):
        column = x[:, i : i + 1]
        feeds[feature.name] = (
            column.astype(np.float32) if feature.type == "number" else column.astype(object)
        )
    return feeds


def test_logistic_regression_scores_and_exports_the_onnx_convention(
    dataset: Path, tmp_path: Path
) -> None:
    artifact = tmp_path / "out" / "model.onnx"
    result = train(spec(), str(dataset), str(artifact))

    assert result.classes == ["no", "yes"]
    assert set(result.metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert result.metrics["accuracy"] > 0.8
    assert result.train_rows + result.validation_rows == 160
    assert result.validation_rows == 32
    session = ort.InferenceSession(str(artifact))
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {
        "size": ("tensor(float)", [None, 1]),
        "colour": ("tensor(string)", [None, 1]),
        "fresh": ("tensor(string)", [None, 1]),
    }
    label, probabilities = session.get_outputs()
    assert label.type == "tensor(string)"
    assert probabilities.type == "tensor(float)"
    assert probabilities.shape == [None, 2]


def test_onnx_predictions_match_scikit_learn_even_with_missing_values(
    dataset: Path, tmp_path: Path
) -> None:
    for model in ("logistic_regression", "random_forest", "gradient_boosting"):
        training = spec(model=model, target="grade")
        fitted = fit_model(training, str(dataset))
        artifact = tmp_path / f"{model}.onnx"
        export_onnx(training, fitted.pipeline, artifact)
        x, _ = load_rows(training, str(dataset))

        labels, probabilities = ort.InferenceSession(str(artifact)).run(
            None, onnx_feeds(x, FEATURES)
        )

        expected = fitted.pipeline.predict(x)
        assert (labels == expected).mean() >= 0.99, model
        np.testing.assert_allclose(
            probabilities, fitted.pipeline.predict_proba(x), atol=1e-3, err_msg=model
        )
        assert fitted.classes == ["A", "B", "C"]


def test_multiclass_metrics_are_macro_averaged(dataset: Path, tmp_path: Path) -> None:
    result = train(spec(model="random_forest", target="grade"), str(dataset), str(tmp_path / "m"))

    assert result.classes == ["A", "B", "C"]
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(result.metrics)


def test_linear_regression_reports_regression_metrics_and_matches_onnx(
    dataset: Path, tmp_path: Path
) -> None:
    training = spec(task="regression", model="linear_regression", target="score")
    artifact = tmp_path / "model.onnx"
    result = train(training, str(dataset), str(artifact))

    assert set(result.metrics) == {"r2", "mae", "rmse"}
    assert result.metrics["r2"] > 0.6
    assert result.classes is None
    fitted = fit_model(training, str(dataset))
    x, _ = load_rows(training, str(dataset))
    session = ort.InferenceSession(str(artifact))
    (output,) = session.get_outputs()
    assert output.type == "tensor(float)"
    (predicted,) = session.run(None, onnx_feeds(x, FEATURES))
    assert predicted.shape == (160, 1)
    np.testing.assert_allclose(predicted[:, 0], fitted.pipeline.predict(x), rtol=1e-4, atol=1e-4)


def test_random_forest_regression_trains(dataset: Path, tmp_path: Path) -> None:
    training = spec(
        task="regression",
        model="random_forest",
        target="score",
        hyperparameters={"n_estimators": 20, "max_depth": 6},
    )
    result = train(training, str(dataset), str(tmp_path / "model.onnx"))

    assert result.metrics["r2"] > 0.5


def test_result_is_plain_data_and_the_artifact_is_onnx_not_a_pickle(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = train(spec(), str(dataset), str(out / "model.onnx"))

    json.dumps(dataclasses.asdict(result))  # only built-in types cross the process boundary
    assert [p.name for p in out.iterdir()] == ["model.onnx"]
    onnx.checker.check_model(onnx.load(str(out / "model.onnx")))
    assert not (out / "model.onnx").read_bytes().startswith(b"\x80")  # pickle protocol marker
    assert {"scikit-learn", "skl2onnx", "onnx"} <= set(result.library_versions)


def test_a_target_with_one_class_in_the_training_split_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(
        pa.table({"size": [float(i) for i in range(12)], "label": ["a"] * 11 + ["b"]}), path
    )
    training = spec(target="label", features=(FeatureColumn("size", "number"),), seed=0)

    with pytest.raises(TrainingError, match="only one class in the training split"):
        # The lone "b" row must land in the validation split for this seed; find such a seed.
        for seed in range(50):
            train(dataclasses.replace(training, seed=seed), str(path), str(tmp_path / "m.onnx"))


def test_rows_without_a_target_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    sizes = [float(i) for i in range(30)]
    labels = [None if i % 3 == 0 else ("big" if i > 15 else "small") for i in range(30)]
    pq.write_table(pa.table({"size": sizes, "label": labels}), path)
    training = spec(target="label", features=(FeatureColumn("size", "number"),))

    result = train(training, str(path), str(tmp_path / "m.onnx"))

    assert result.train_rows + result.validation_rows == 20


def test_a_cancel_flag_stops_training(dataset: Path, tmp_path: Path) -> None:
    flag = tmp_path / "cancel"
    flag.touch()

    with pytest.raises(TrainingCancelled):
        train(spec(cancel_flag_path=str(flag)), str(dataset), str(tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()


def test_forests_grow_in_stages_with_progress(dataset: Path, tmp_path: Path) -> None:
    progress = tmp_path / "progress.jsonl"
    training = spec(
        model="random_forest", hyperparameters={"n_estimators": 20}, progress_path=str(progress)
    )

    result = train(training, str(dataset), str(tmp_path / "m.onnx"))

    steps = [json.loads(line) for line in progress.read_text().splitlines()]
    assert [s["epoch"] for s in steps] == list(range(1, 11))
    assert steps[-1]["eta_s"] == 0 and steps[-1]["val_metric"] is not None
    assert len(result.report["history"]) == 10
    assert result.metrics["accuracy"] > 0.7
    fitted = fit_model(dataclasses.replace(training, progress_path=None), str(dataset))
    assert len(fitted.pipeline.named_steps["model"].estimators_) == 20  # type: ignore[union-attr]


def test_the_report_follows_from_the_kept_model_and_a_refit_gives_the_same(
    dataset: Path, tmp_path: Path
) -> None:
    training = spec(model="random_forest", hyperparameters={"n_estimators": 20})
    result = train(training, str(dataset), str(tmp_path / "m.onnx"))
    # What the job succeeds with: no report yet, only the history.
    assert set(result.report) == {"history"}

    kept = report_for(training, str(dataset))
    # A process that no longer holds the model (replaced, restarted) fits it again.
    again = report_for(training, str(dataset))

    assert not kept.refitted and again.refitted
    assert kept.report["confusion_matrix"]["labels"] == ["no", "yes"]
    assert kept.report["roc_curve"] and kept.report["feature_importance"]
    assert {k: v for k, v in again.report.items() if k != "history"} == {
        k: v for k, v in kept.report.items() if k != "history"
    }


def test_a_report_is_never_made_from_another_jobs_model(dataset: Path, tmp_path: Path) -> None:
    first = spec(model="random_forest", hyperparameters={"n_estimators": 5})
    train(first, str(dataset), str(tmp_path / "m.onnx"))

    other = report_for(dataclasses.replace(first, seed=7), str(dataset))

    assert other.refitted
