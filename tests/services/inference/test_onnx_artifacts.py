"""The artifact convention check: what a registration refuses before storing anything."""

from __future__ import annotations

import onnx
import pytest

from proto.inference import FeatureSpec
from services.inference.onnx_artifacts import InvalidArtifact, check_artifact
from tests.support.onnx_models import TrainedModel, train_classifier


@pytest.fixture(scope="module")
def classifier() -> TrainedModel:
    return train_classifier()


def _specs(model: TrainedModel) -> list[FeatureSpec]:
    return [FeatureSpec.model_validate(spec) for spec in model.feature_specs()]


def test_a_conventional_classifier_passes(classifier: TrainedModel) -> None:
    session = check_artifact(
        classifier.onnx_bytes, _specs(classifier), "classification", classifier.classes
    )

    assert [node.name for node in session.get_inputs()] == ["age", "income", "city"]


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
