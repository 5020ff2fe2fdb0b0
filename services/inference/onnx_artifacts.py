"""Checking ONNX artifacts against the artifact convention, and opening them with onnxruntime.

Everything here is synchronous and CPU-bound: callers run it on the inference thread pool.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from numpy.typing import NDArray

from proto.inference import FeatureSpec, FeatureValue
from proto.training import Task

# Oldest default-domain opset we accept; the newest is what the installed onnx knows.
MIN_OPSET = 9
_ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
ONNX_INPUT_TYPES = {"number": "tensor(float)", "string": "tensor(string)"}
# Rows of the check run: more than one, as micro-batching combines requests into one run.
_SAMPLE_ROWS = 2


class InvalidArtifact(Exception):
    """The artifact breaks the convention; the message names the problem."""


@dataclass(frozen=True, slots=True)
class ArtifactOutputs:
    """Names of the outputs a prediction reads: the label and, for classifiers, probabilities."""

    label: str
    probabilities: str | None


@dataclass(frozen=True, slots=True)
class OnnxRunner:
    """Runs an onnxruntime session of a conventional artifact (one input per feature)."""

    session: ort.InferenceSession
    outputs: ArtifactOutputs
    features: tuple[FeatureSpec, ...]

    def run(
        self, rows: Sequence[Mapping[str, FeatureValue]]
    ) -> tuple[NDArray[Any], NDArray[Any] | None]:
        """Labels [N] and, for classifiers, probabilities [N, C]."""
        inputs = feature_columns(rows, self.features)
        if self.outputs.probabilities is None:
            (values,) = self.session.run([self.outputs.label], inputs)
            return np.asarray(values).reshape(len(values), -1)[:, 0], None
        labels, probabilities = self.session.run(
            [self.outputs.label, self.outputs.probabilities], inputs
        )
        return np.asarray(labels).reshape(-1), np.asarray(probabilities)


def onnx_runner(
    data: bytes, task: Task, features: Sequence[FeatureSpec], intra_op_threads: int
) -> OnnxRunner:
    """A runner over a registered (already checked) artifact."""
    session = open_session(data, intra_op_threads)
    return OnnxRunner(session, output_names(session, task), tuple(features))


def feature_columns(
    rows: Sequence[Mapping[str, FeatureValue]], features: Sequence[FeatureSpec]
) -> dict[str, NDArray[Any]]:
    """One [N, 1] input per feature: float32 (None -> NaN) or object str (None -> "")."""
    inputs: dict[str, NDArray[Any]] = {}
    for spec in features:
        values = [row.get(spec.name) for row in rows]
        if spec.type == "number":
            column = np.array(
                [math.nan if v is None else float(v) for v in values],
                dtype=np.float32,
            )
        else:
            column = np.array(["" if v is None else str(v) for v in values], dtype=object)
        inputs[spec.name] = column.reshape(-1, 1)
    return inputs


def open_session(data: bytes, intra_op_threads: int) -> ort.InferenceSession:
    """An onnxruntime session on the CPU over the artifact's bytes."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only; warnings about unused initializers are noise
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


def check_artifact(
    data: bytes,
    features: Sequence[FeatureSpec],
    task: Task,
    classes: Sequence[str] | None,
    intra_op_threads: int = 1,
) -> OnnxRunner:
    """A runner over the loaded session when the artifact follows the convention, else
    InvalidArtifact."""
    _check_graph(data)
    try:
        session = open_session(data, intra_op_threads)
    except Exception as exc:  # onnxruntime raises its own error types for every load failure
        raise InvalidArtifact(f"onnxruntime cannot load the artifact: {_first_line(exc)}") from exc
    _check_inputs(session, features)
    outputs = output_names(session, task)
    _check_sample_run(session, features, outputs, classes)
    return OnnxRunner(session, outputs, tuple(features))


def output_names(session: ort.InferenceSession, task: Task) -> ArtifactOutputs:
    """The label (and probabilities) outputs of a conventional artifact, else InvalidArtifact."""
    outputs = session.get_outputs()
    if not outputs:
        raise InvalidArtifact("the model has no outputs")
    if task == "regression":
        if outputs[0].type != "tensor(float)":
            raise InvalidArtifact(
                f"output 0 {outputs[0].name!r} of a regression model must be tensor(float), "
                f"not {outputs[0].type}"
            )
        return ArtifactOutputs(outputs[0].name, None)
    if len(outputs) < 2:
        raise InvalidArtifact("a classification model needs a label and a probabilities output")
    label, probabilities = outputs[0], outputs[1]
    if label.type != "tensor(string)":
        raise InvalidArtifact(
            f"output 0 {label.name!r} must be the label as tensor(string), not {label.type} "
            "(cast the target to str before fitting)"
        )
    if probabilities.type != "tensor(float)":
        raise InvalidArtifact(
            f"output 1 {probabilities.name!r} must be probabilities as tensor(float), "
            f"not {probabilities.type} (export with zipmap=False)"
        )
    return ArtifactOutputs(label.name, probabilities.name)


def _check_graph(data: bytes) -> None:
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InvalidArtifact(f"the artifact is not an ONNX model: {_first_line(exc)}") from exc
    if not model.HasField("graph") or not model.graph.node:
        raise InvalidArtifact("the artifact is not an ONNX model: it has no graph")
    newest = onnx.defs.onnx_opset_version()
    default_opset: int | None = None
    for opset in model.opset_import:
        if opset.domain not in _ALLOWED_DOMAINS:
            raise InvalidArtifact(f"operator domain {opset.domain!r} is not supported")
        if opset.domain in {"", "ai.onnx"}:
            default_opset = opset.version
    if default_opset is None or not MIN_OPSET <= default_opset <= newest:
        raise InvalidArtifact(
            f"opset {default_opset} is not supported (supported: {MIN_OPSET} to {newest})"
        )
    # External data would make onnxruntime read files on this server by a path in the model.
    for tensor in _all_tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise InvalidArtifact(f"tensor {tensor.name!r} uses external data; embed all weights")


def _all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _all_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _all_tensors(subgraph)


def _check_inputs(session: ort.InferenceSession, features: Sequence[FeatureSpec]) -> None:
    expected = {spec.name: ONNX_INPUT_TYPES[spec.type] for spec in features}
    actual = {node.name: node for node in session.get_inputs()}
    problems: list[str] = []
    missing = [name for name in expected if name not in actual]
    extra = [name for name in actual if name not in expected]
    if missing:
        problems.append(f"no model input for feature(s) {', '.join(map(repr, missing))}")
    if extra:
        problems.append(f"model input(s) {', '.join(map(repr, extra))} are not features")
    for name, want in expected.items():
        node = actual.get(name)
        if node is None:
            continue
        if node.type != want:
            problems.append(f"input {name!r} is {node.type}, the feature needs {want}")
        shape = list(node.shape)
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != 1):
            problems.append(f"input {name!r} has shape {shape}, expected [N, 1]")
        elif isinstance(shape[0], int):
            # Concurrent requests are batched into one run: a fixed row count breaks them.
            problems.append(
                f"input {name!r} has a fixed batch dimension of {shape[0]}; make the first "
                "dimension dynamic (shape [None, 1]) so that any number of rows can be predicted"
            )
    if problems:
        raise InvalidArtifact("inputs do not match the features: " + "; ".join(problems))


def _check_sample_run(
    session: ort.InferenceSession,
    features: Sequence[FeatureSpec],
    outputs: ArtifactOutputs,
    classes: Sequence[str] | None,
) -> None:
    """Rows of missing values must run, give one answer per row (more than one row: batches do),
    and a classifier must give one probability per class."""
    rows = _SAMPLE_ROWS
    feeds = {
        spec.name: np.full((rows, 1), np.nan, dtype=np.float32)
        if spec.type == "number"
        else np.full((rows, 1), "", dtype=object)
        for spec in features
    }
    wanted = [outputs.label] + ([outputs.probabilities] if outputs.probabilities else [])
    try:
        results = session.run(wanted, feeds)
    except Exception as exc:  # onnxruntime's run errors have no common public base class
        raise InvalidArtifact(
            f"the model fails on {rows} rows of missing values: {_first_line(exc)}"
        ) from exc
    answers = [np.asarray(result) for result in results]
    for name, answer in zip(wanted, answers, strict=True):
        if answer.ndim == 0 or answer.shape[0] != rows:
            raise InvalidArtifact(
                f"output {name!r} gives shape {list(answer.shape)} for {rows} rows; "
                "it must give one answer per row"
            )
    if outputs.probabilities is not None and classes is not None:
        width = answers[1].shape[-1] if answers[1].ndim == 2 else None
        if width != len(classes):
            raise InvalidArtifact(
                f"the model gives {width} probabilities per row but {len(classes)} classes "
                "were declared"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
