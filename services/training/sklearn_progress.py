"""Progress of scikit-learn fits: forests and boosting grown a slice at a time, figures per step.

Each step scores the model so far on a fixed sample of the training and held-out rows, encoded
once. A forest's prediction is the mean of its trees', so the trees of each slice are scored once
and added to a running sum: all steps together cost one prediction of the whole forest, not one
per step. The figures (log loss or MSE, accuracy or RMSE) are a few numpy operations on targets
coded once: scikit-learn's metric functions spend milliseconds checking their input per call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline

# Forests and boosting grow in this many slices, each a progress step and a cancel point.
STAGED_MODELS = frozenset({"random_forest", "gradient_boosting"})
STAGES = 10
# Progress figures come from at most this many rows per split.
STEP_SAMPLE_ROWS = 500

Split = tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]
Step = dict[str, float]


class _Sample:
    """Encoded rows of one split and what the model so far predicts for them."""

    def __init__(self, prefix: str, encoded: NDArray[Any], y: NDArray[Any]) -> None:
        self.prefix = prefix
        self.encoded = np.ascontiguousarray(encoded, dtype=np.float32)
        self.y = y
        self.codes: NDArray[np.int64] | None = None  # y as positions in classes_; -1: unseen
        self.tree_sum: NDArray[np.float64] | None = None
        self.trees = 0


def fit_in_stages(
    task: str,
    pipeline: Pipeline,
    data: Split,
    progress: Callable[[Step], None],
    between_stages: Callable[[], None],
) -> list[Step]:
    """Grow a forest or boosting a slice of estimators at a time (warm start): a progress step
    and `between_stages` (the cancel check) after each slice; the model ends up the same as one
    plain fit."""
    x_train, _, y_train, _ = data
    columns, model = pipeline.named_steps["columns"], pipeline.named_steps["model"]
    # float32 once, as the trees take it, not once per slice.
    encoded = np.asarray(columns.fit_transform(x_train, y_train), dtype=np.float32)
    if task == "classification":
        # Labels as fixed-width text, not Python objects: every slice's fit checks the
        # targets again (np.unique twice), and on objects that is a sort of Python strings,
        # 10-15 ms a slice for 10k rows; on text it is a fraction of that.
        y_train = np.asarray(y_train, dtype=np.str_)
    samples = _samples(columns, encoded, data)
    total = int(model.n_estimators)
    stages = min(STAGES, total)
    model.set_params(warm_start=True)
    history = []
    started = time.monotonic()
    for stage in range(1, stages + 1):
        between_stages()
        model.set_params(n_estimators=max(1, round(total * stage / stages)))
        model.fit(encoded, y_train)
        step = _step(task, model, samples, stage, stages, started)
        history.append(step)
        progress(step)
    return history


def single_fit_step(task: str, pipeline: Pipeline, data: Split, started: float) -> Step:
    """The one progress step of a model fitted in one go."""
    columns, model = pipeline.named_steps["columns"], pipeline.named_steps["model"]
    encoded_train = columns.transform(data[0][:STEP_SAMPLE_ROWS])
    return _step(task, model, _samples(columns, encoded_train, data), 1, 1, started)


def _samples(columns: Any, encoded_train: NDArray[Any], data: Split) -> list[_Sample]:
    """The first rows of each split (already shuffled by the split), encoded."""
    _, x_val, y_train, y_val = data
    samples = []
    if len(y_train):
        samples.append(_Sample("", encoded_train[:STEP_SAMPLE_ROWS], y_train[:STEP_SAMPLE_ROWS]))
    if len(y_val):
        encoded_val = columns.transform(x_val[:STEP_SAMPLE_ROWS])
        samples.append(_Sample("val_", encoded_val, y_val[:STEP_SAMPLE_ROWS]))
    return samples


def _step(
    task: str, model: Any, samples: list[_Sample], stage: int, stages: int, started: float
) -> Step:
    """Log loss or MSE, and the progress metric, of the model so far on each sample."""
    elapsed = time.monotonic() - started
    step: Step = {"epoch": float(stage), "eta_s": elapsed / stage * (stages - stage)}
    for sample in samples:
        if task == "classification":
            loss, metric = _classification_figures(model, sample)
        else:
            errors = _predict(model, sample, proba=False) - sample.y.astype(np.float64)
            loss = float(np.mean(errors**2))
            metric = float(np.sqrt(loss))
        step[sample.prefix + "loss"] = loss
        step[sample.prefix + "metric"] = metric
    return step


def _classification_figures(model: Any, sample: _Sample) -> tuple[float, float]:
    """Log loss (probabilities clipped to [eps, 1 - eps], as scikit-learn) and accuracy."""
    probabilities = _predict(model, sample, proba=True)
    if sample.codes is None:
        positions = {label: i for i, label in enumerate(model.classes_.tolist())}
        sample.codes = np.asarray([positions.get(v, -1) for v in sample.y.tolist()])
    codes = sample.codes
    eps = np.finfo(probabilities.dtype).eps
    picked = np.where(codes >= 0, probabilities[np.arange(len(codes)), codes], 0.0)
    loss = float(-np.mean(np.log(np.clip(picked, eps, 1 - eps))))
    accuracy = float(np.mean(probabilities.argmax(axis=1) == codes))
    return loss, accuracy


def _predict(model: Any, sample: _Sample, *, proba: bool) -> NDArray[Any]:
    """Probabilities (or values) of the model so far; forests only score their new trees."""
    if not isinstance(model, RandomForestClassifier | RandomForestRegressor):
        result: NDArray[Any] = (
            model.predict_proba(sample.encoded) if proba else model.predict(sample.encoded)
        )
        return result
    for tree in model.estimators_[sample.trees :]:
        # The sample is already a C-contiguous float32 matrix, as trees take it.
        values = (
            tree.predict_proba(sample.encoded, check_input=False)
            if proba
            else tree.predict(sample.encoded, check_input=False)
        )
        sample.tree_sum = values if sample.tree_sum is None else sample.tree_sum + values
    sample.trees = len(model.estimators_)
    assert sample.tree_sum is not None
    mean: NDArray[Any] = sample.tree_sum / sample.trees
    return mean
