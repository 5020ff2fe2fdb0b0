"""The artifact convention check: what a registration refuses before storing anything."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from proto.inference import FeatureSpec
from services.inference.onnx_artifacts import InvalidArtifact, check_artifact
from tests.support.onnx_models import TrainedModel, train_classifier


@pytest.fixture(scope="module")
def classifier() -> TrainedModel:
    return train_classifier()


def _specs(model: TrainedModel) -> list[FeatureSpec]:
    return [FeatureSpec.model_validate(spec) for spec in model.feature_specs()]


def test_a_conventional_classifier_passes(classifier: TrainedModel) -> None:
    runner = check_artifact(
        classifier.onnx_bytes, _specs(classifier), "classification", classifier.classes
    )

    assert [node.name for node in runner.session.get_inputs()] == ["age", "income", "city"]


def test_the_task_must_match_the_outputs(classifier: TrainedModel) -> None:
    with pytest.raises(InvalidArtifact, match="regression model must be tensor\\(float\\)"):
        check_artifact(classifier.onnx_bytes, _specs(classifier), "regression", None)


def test_an_unsupported_opset_is_refused(classifier: TrainedModel) -> None:
    model = onnx.load_model_from_string(classifier.onnx_bytes)
    for opset in model.opset_import:
        if opset.domain == "":
            opset.version = 5

    with pytest.raises(InvalidArtifact, match="opset 5 is not supported"):
        check_artifact(
            model.SerializeToString(), _specs(classifier), "classification", classifier.classes
        )


def test_external_data_is_refused(classifier: TrainedModel) -> None:
    model = onnx.load_model_from_string(classifier.onnx_bytes)
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"

    with pytest.raises(InvalidArtifact, match="external data"):
        check_artifact(
            model.SerializeToString(), _specs(classifier), "classification", classifier.classes
        )


def test_an_input_fixed_at_one_row_is_refused(classifier: TrainedModel) -> None:
    """Micro-batching runs several requests' rows at once: a graph fixed at [1, 1] would fail."""
    model = onnx.load_model_from_string(classifier.onnx_bytes)
    for node in model.graph.input:
        batch = node.type.tensor_type.shape.dim[0]
        batch.ClearField("dim_param")
        batch.dim_value = 1

    with pytest.raises(InvalidArtifact) as refused:
        check_artifact(
            model.SerializeToString(), _specs(classifier), "classification", classifier.classes
        )

    message = str(refused.value)
    for name in ("age", "income", "city"):
        assert f"input {name!r} has a fixed batch dimension of 1" in message
    assert "[None, 1]" in message


def _one_row_regressor() -> bytes:
    """A graph with a dynamic input that only works on one row (it reshapes to [1, 1])."""
    graph = helper.make_graph(
        [
            helper.make_node(
                "Constant",
                [],
                ["shape"],
                value=numpy_helper.from_array(np.array([1, 1], dtype=np.int64)),
            ),
            helper.make_node("Reshape", ["age", "shape"], ["variable"]),
        ],
        "one-row",
        [helper.make_tensor_value_info("age", onnx.TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("variable", onnx.TensorProto.FLOAT, [1, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_graph_that_only_runs_one_row_is_refused() -> None:
    age = [FeatureSpec(name="age", type="number")]

    with pytest.raises(InvalidArtifact, match="fails on 2 rows of missing values"):
        check_artifact(_one_row_regressor(), age, "regression", None)


def test_the_sample_run_needs_one_answer_per_row() -> None:
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["age"], ["variable"], keepdims=1)],
        "sums-rows",
        [helper.make_tensor_value_info("age", onnx.TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("variable", onnx.TensorProto.FLOAT, [1, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8
    age = [FeatureSpec(name="age", type="number")]

    with pytest.raises(InvalidArtifact, match="gives shape \\[1, 1\\] for 2 rows"):
        check_artifact(model.SerializeToString(), age, "regression", None)
