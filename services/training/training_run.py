"""What a training run takes and gives: plain data, so nothing crosses to the training process
but dataclasses of built-in types (and the fitted model, which stays in that process)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from proto.inference import ArtifactFormat

if TYPE_CHECKING:
    from services.training.torch_models import TorchModel

FeatureType = Literal["number", "string"]


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    name: str
    type: FeatureType


@dataclass(frozen=True, slots=True)
class TrainingSpec:
    """What to train; built from a job row by the worker."""

    task: Literal["classification", "regression"]
    model: str
    target: str
    features: tuple[FeatureColumn, ...]
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    validation_split: float = 0.2
    seed: int = 0
    threads: int = 1
    # When this file exists, the owner asked to stop: checked between stages.
    cancel_flag_path: str | None = None
    # Where each epoch's figures are appended as JSON lines, for the worker to stream.
    progress_path: str | None = None


@dataclass(frozen=True, slots=True)
class TrainingResult:
    metrics: dict[str, float]
    classes: list[str] | None
    features: list[FeatureColumn]
    library_versions: dict[str, str]
    train_rows: int
    validation_rows: int
    artifact_format: ArtifactFormat = "onnx"
    # What the result holds at success besides artifact facts: the history (JSON-able data).
    # The rest of the report follows (`ReportResult`).
    report: dict[str, Any] = field(default_factory=dict)
    # Milliseconds each step took in the training process (logged by the worker).
    step_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReportResult:
    """The report of a succeeded job (trainer.report_for), computed after it succeeded."""

    # confusion_matrix, roc_curve, feature_importance, history (plain JSON-able data).
    report: dict[str, Any]
    # True when the training process no longer held the model and fitted it again.
    refitted: bool
    milliseconds: float


@dataclass(frozen=True, slots=True)
class FittedModel:
    """A fitted pipeline and the held-out rows it was not fitted on (stays in this process)."""

    pipeline: Pipeline | TorchModel
    classes: list[str] | None
    x_validation: NDArray[Any]
    y_validation: NDArray[Any]
    train_rows: int
    history: list[dict[str, float]] = field(default_factory=list)
