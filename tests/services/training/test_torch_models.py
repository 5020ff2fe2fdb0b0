"""The PyTorch MLP: trains with early stopping, reports progress, and its artifact follows
proto.torch_artifact so it runs back with safetensors and numpy alone (no pickle)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from safetensors.numpy import load as load_safetensors

from proto.torch_artifact import (
    ARCHITECTURE_FILE,
    WEIGHTS_FILE,
    InvalidTorchArtifact,
    TorchArchitecture,
    encode_rows,
    unpack_artifact,
)
from services.training.cpu_budget import available_cpus
from services.training.progress import STEP_FIELDS
from services.training.sklearn_models import HyperparameterError, check_hyperparameters
from services.training.torch_models import encode_matrix, fit_mlp, fit_preprocessing
from services.training.trainer import TrainingCancelled, fit_model, load_rows, report_for, train
from tests.services.training.test_trainer import FEATURES, spec, write_dataset

MLP = {"hidden_layers": [16, 8], "epochs": 40, "batch_size": 32, "learning_rate": 0.01}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data.parquet", rows=200)


def numpy_forward(architecture: TorchArchitecture, weights: dict[str, Any], x: Any) -> Any:
    """The forward pass exactly as proto.torch_artifact documents it, in numpy."""
    h = x
    layers = len(architecture.layer_shapes())
    for i in range(layers):
        h = h @ weights[f"layers.{i}.weight"].T + weights[f"layers.{i}.bias"]
        if i < layers - 1:
            h = np.maximum(h, 0)
    return h


def rows_of(x: NDArray[Any]) -> list[dict[str, Any]]:
    """The object matrix as the raw rows a client would send (missing: None)."""
    rows = []
    for values in x.tolist():
        row: dict[str, Any] = {}
        for feature, value in zip(FEATURES, values, strict=True):
            missing = value == "" or (isinstance(value, float) and np.isnan(value))
            row[feature.name] = None if missing else value
        rows.append(row)
    return rows


def test_mlp_classifier_learns_and_its_artifact_runs_without_torch_or_pickle(
    dataset: Path, tmp_path: Path
) -> None:
    artifact = tmp_path / "model.artifact"
    progress = tmp_path / "progress.jsonl"
    training = spec(model="mlp", hyperparameters=MLP, progress_path=str(progress))

    result = train(training, str(dataset), str(artifact))

    assert result.artifact_format == "torch-safetensors"
    assert result.metrics["accuracy"] > 0.8
    assert {"torch", "safetensors"} <= set(result.library_versions)
    json.dumps(dataclasses.asdict(result))
    steps = [json.loads(line) for line in progress.read_text().splitlines()]
    assert 1 <= len(steps) <= 40 and steps[0]["epoch"] == 1
    assert set(steps[-1]) == set(STEP_FIELDS) and steps[-1]["val_loss"] is not None
    assert result.report["history"][-1]["epoch"] == steps[-1]["epoch"]
    # The report follows, in the same process, from the model `train` kept.
    assembled = report_for(training, str(dataset))
    assert not assembled.refitted
    report = assembled.report
    assert report["confusion_matrix"]["labels"] == ["no", "yes"]
    assert report["roc_curve"][0]["positive_class"] == "yes"
    assert {i["feature"] for i in report["feature_importance"]} == {
        "size",
        "colour",
        "fresh",
    }

    data = artifact.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [ARCHITECTURE_FILE, WEIGHTS_FILE]
    architecture, raw_weights = unpack_artifact(data)
    weights = load_safetensors(raw_weights)  # safetensors only: no torch.load, no pickle
    assert {k: v.shape for k, v in weights.items()} == architecture.tensor_shapes()
    assert architecture.hidden_sizes == [16, 8] and architecture.classes == ["no", "yes"]

    # The same predictions as the trained network, from raw rows, with numpy alone.
    fitted = fit_model(training, str(dataset))
    x, _ = load_rows(training, str(dataset))
    logits = numpy_forward(
        architecture, weights, encode_rows(architecture.preprocessing, rows_of(x))
    )
    labels = np.asarray(architecture.classes)[logits.argmax(axis=1)]
    assert (labels == fitted.pipeline.predict(x)).mean() == 1.0


def test_mlp_regression_predicts_in_target_units(dataset: Path, tmp_path: Path) -> None:
    training = spec(model="mlp", task="regression", target="score", hyperparameters=MLP)

    result = train(training, str(dataset), str(tmp_path / "model.artifact"))

    assert result.metrics["r2"] > 0.8
    architecture, raw = unpack_artifact((tmp_path / "model.artifact").read_bytes())
    assert architecture.output_size == 1 and architecture.classes is None
    x, y = load_rows(training, str(dataset))
    encoded = encode_rows(architecture.preprocessing, rows_of(x))
    out = numpy_forward(architecture, load_safetensors(raw), encoded)[:, 0]
    predicted = out * architecture.target_std + architecture.target_mean
    assert np.abs(predicted - y).mean() < np.abs(y - y.mean()).mean() / 2


def test_early_stopping_stops_before_the_last_epoch(dataset: Path, tmp_path: Path) -> None:
    hyperparameters = {**MLP, "epochs": 500, "patience": 2, "learning_rate": 0.05}
    training = spec(model="mlp", hyperparameters=hyperparameters)

    result = train(training, str(dataset), str(tmp_path / "m"))

    assert len(result.report["history"]) < 500


def test_the_vectorised_encoding_matches_the_contract(dataset: Path) -> None:
    training = spec(model="mlp")
    x, _ = load_rows(training, str(dataset))
    preprocessing = fit_preprocessing(x, [(f.name, f.type) for f in FEATURES])

    assert np.array_equal(encode_matrix(preprocessing, x), encode_rows(preprocessing, rows_of(x)))
    assert preprocessing.features[2].vocabulary == ["false", "true"]  # type: ignore[union-attr]


def test_a_cancel_flag_stops_the_mlp_between_epochs(dataset: Path, tmp_path: Path) -> None:
    flag = tmp_path / "cancel"
    flag.touch()

    with pytest.raises(TrainingCancelled):
        train(spec(model="mlp", cancel_flag_path=str(flag)), str(dataset), str(tmp_path / "m"))


def test_mlp_hyperparameters_are_checked() -> None:
    assert check_hyperparameters("mlp", "classification", MLP) == MLP
    for bad in ({"hidden_layers": [0]}, {"hidden_layers": "64"}, {"epochs": 0}, {"lr": 1}):
        with pytest.raises(HyperparameterError):
            check_hyperparameters("mlp", "classification", bad)


def _threads_while_training(dataset: Path, threads: int) -> set[int]:
    """torch's thread count as fit_mlp trains, seen between epochs (then restored)."""
    training = spec(model="mlp", hyperparameters={**MLP, "epochs": 3})
    x, y = load_rows(training, str(dataset))
    before = torch.get_num_threads()
    seen: set[int] = set()
    try:
        # More than any answer first, so the test sees fit_mlp's own setting.
        torch.set_num_threads((os.cpu_count() or 1) + 1)
        fit_mlp(
            "classification",
            [(f.name, f.type) for f in FEATURES],
            (x[:150], x[150:], y[:150], y[150:]),
            training.hyperparameters,
            seed=0,
            threads=threads,
            between_epochs=lambda: seen.add(torch.get_num_threads()),
        )
    finally:
        torch.set_num_threads(before)
    return seen


def test_fit_mlp_trains_with_the_threads_asked_up_to_the_cpus_it_may_use(dataset: Path) -> None:
    cpus = available_cpus()

    assert _threads_while_training(dataset, 1) == {1}
    assert _threads_while_training(dataset, 2) == {min(2, cpus)}
    assert _threads_while_training(dataset, 10_000) == {cpus}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_fit_mlp_never_uses_more_threads_than_its_cpu_affinity(dataset: Path) -> None:
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        seen = _threads_while_training(dataset, 4)
    finally:
        os.sched_setaffinity(0, allowed)

    assert seen == {1}


def test_a_malformed_artifact_is_refused() -> None:
    with pytest.raises(InvalidTorchArtifact):
        unpack_artifact(b"\x80\x04not a zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(ARCHITECTURE_FILE, "{}")
        archive.writestr(WEIGHTS_FILE, b"")
    with pytest.raises(InvalidTorchArtifact):
        unpack_artifact(buffer.getvalue())


def test_no_artifact_code_path_can_unpickle() -> None:
    """Artifacts are read with safetensors/ONNX only: torch.load and pickle appear nowhere."""
    root = Path(__file__).parents[3] / "services"
    sources = [
        *(root / "training").rglob("*.py"),
        *(root / "inference").rglob("*.py"),
        Path(__file__).parents[3] / "proto" / "torch_artifact.py",
    ]
    forbidden = re.compile(r"(?<![\w.])torch\.load\(|import pickle|pickle\.loads?\(|joblib")
    for source in sources:
        assert not forbidden.search(source.read_text()), source
