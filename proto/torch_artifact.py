"""The "torch-safetensors" artifact: a PyTorch MLP as safetensors weights plus a JSON architecture.

Training writes it, inference reads it; both import this module so the layout cannot drift.

Layout. The artifact (the `artifact` part of POST /internal/v1/models/versions with
`format="torch-safetensors"`) is a ZIP archive holding exactly two members:

- `architecture.json`: a `TorchArchitecture` (UTF-8 JSON, this module's schema).
- `weights.safetensors`: float32 tensors `layers.{i}.weight` of shape [out_i, in_i] and
  `layers.{i}.bias` of shape [out_i], for i = 0 .. len(hidden_sizes), in forward order.

Nothing is pickled: read the weights with `safetensors.torch.load(bytes)` (or
`safetensors.numpy.load`), never `torch.load`.

Forward pass, for rows of raw feature values:
1. `encode_rows(architecture.preprocessing, rows)` -> float32 matrix [N, input_size]: features in
   `preprocessing.features` order; a "number" feature is one column, (value - mean) / std with a
   missing or non-finite value replaced by `mean` (so it encodes as 0); a "string" feature is
   len(vocabulary) one-hot columns, all zero for a missing value (None or "") or a value not in
   the vocabulary.
2. For each hidden layer i: h = activation(h @ weight_i.T + bias_i) (dropout is training-only).
3. The last layer is linear: out = h @ weight_last.T + bias_last.
4. Classification: out is [N, len(classes)] logits; probabilities = softmax(out) in the order of
   `classes`; the label is classes[argmax]. Regression: out is [N, 1];
   prediction = out[:, 0] * target_std + target_mean.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, ValidationError, model_validator

from proto.common import Contract
from proto.training import Task

ARTIFACT_FORMAT = "torch-safetensors"
ARCHITECTURE_FILE = "architecture.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION: Literal[1] = 1
# Limits a reader enforces before inflating anything.
MAX_ARCHITECTURE_BYTES = 8 * 1024 * 1024
MAX_WEIGHTS_BYTES = 512 * 1024 * 1024
MAX_VOCABULARY = 10_000
MAX_HIDDEN_LAYERS = 16
MAX_LAYER_SIZE = 4096

Activation = Literal["relu", "tanh", "gelu"]


class InvalidTorchArtifact(ValueError):
    """The bytes are not a torch-safetensors artifact of this layout; the message says why."""


class NumericFeature(Contract):
    """A number feature: missing -> mean, then (x - mean) / std (std > 0)."""

    name: str = Field(min_length=1)
    type: Literal["number"] = "number"
    mean: float
    std: float = Field(gt=0)


class CategoricalFeature(Contract):
    """A string feature: one-hot over `vocabulary`; missing ("" too) or unseen values: zeros."""

    name: str = Field(min_length=1)
    type: Literal["string"] = "string"
    vocabulary: list[str] = Field(min_length=1, max_length=MAX_VOCABULARY)


FeaturePreprocessing = Annotated[NumericFeature | CategoricalFeature, Field(discriminator="type")]


class Preprocessing(Contract):
    """How raw rows become the network's input matrix, feature by feature, in this order."""

    features: list[FeaturePreprocessing] = Field(min_length=1)

    @property
    def input_size(self) -> int:
        """Columns of the encoded matrix."""
        return sum(1 if f.type == "number" else len(f.vocabulary) for f in self.features)


class TorchArchitecture(Contract):
    """`architecture.json`: everything needed to rebuild and run the network."""

    format_version: Literal[1] = FORMAT_VERSION
    kind: Literal["mlp"] = "mlp"
    task: Task
    input_size: int = Field(ge=1)
    hidden_sizes: list[Annotated[int, Field(ge=1, le=MAX_LAYER_SIZE)]] = Field(
        max_length=MAX_HIDDEN_LAYERS
    )
    activation: Activation = "relu"
    output_size: int = Field(ge=1)
    preprocessing: Preprocessing
    classes: list[str] | None = None
    target_mean: float = 0.0
    target_std: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> TorchArchitecture:
        if self.input_size != self.preprocessing.input_size:
            raise ValueError("input_size does not match the preprocessing")
        if self.task == "classification":
            if not self.classes or len(self.classes) < 2:
                raise ValueError("a classifier needs at least two classes")
            if self.output_size != len(self.classes):
                raise ValueError("output_size must equal the number of classes")
        elif self.classes is not None or self.output_size != 1:
            raise ValueError("a regressor has no classes and one output")
        return self

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each linear layer in forward order; weights `layers.{i}.weight`."""
        sizes = [self.input_size, *self.hidden_sizes, self.output_size]
        return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor `weights.safetensors` must hold, and its shape."""
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (out, inp) in enumerate(self.layer_shapes()):
            shapes[f"layers.{i}.weight"] = (out, inp)
            shapes[f"layers.{i}.bias"] = (out,)
        return shapes


def pack_artifact(architecture: TorchArchitecture, weights: bytes) -> bytes:
    """The artifact's bytes: a ZIP of `architecture.json` and `weights.safetensors`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(ARCHITECTURE_FILE, architecture.model_dump_json())
        archive.writestr(WEIGHTS_FILE, weights)
    return buffer.getvalue()


def unpack_artifact(data: bytes) -> tuple[TorchArchitecture, bytes]:
    """The architecture and the raw safetensors bytes, or InvalidTorchArtifact."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidTorchArtifact("the artifact is not a ZIP archive") from exc
    with archive:
        names = sorted(info.filename for info in archive.infolist())
        if names != sorted([ARCHITECTURE_FILE, WEIGHTS_FILE]):
            raise InvalidTorchArtifact(
                f"the archive must hold exactly {ARCHITECTURE_FILE} and {WEIGHTS_FILE}"
            )
        limits = {ARCHITECTURE_FILE: MAX_ARCHITECTURE_BYTES, WEIGHTS_FILE: MAX_WEIGHTS_BYTES}
        for name, limit in limits.items():
            if archive.getinfo(name).file_size > limit:
                raise InvalidTorchArtifact(f"{name} is larger than {limit} bytes")
        try:
            raw_architecture = archive.read(ARCHITECTURE_FILE)
            weights = archive.read(WEIGHTS_FILE)
        except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
            raise InvalidTorchArtifact(f"the archive cannot be read: {exc}") from exc
    try:
        architecture = TorchArchitecture.model_validate_json(raw_architecture)
    except ValidationError as exc:
        raise InvalidTorchArtifact(f"{ARCHITECTURE_FILE} is invalid: {exc}") from exc
    return architecture, weights


def encode_rows(
    preprocessing: Preprocessing, rows: Sequence[Mapping[str, Any]]
) -> NDArray[np.float32]:
    """The network's input matrix [N, input_size] for rows of raw values (missing keys: None)."""
    matrix = np.zeros((len(rows), preprocessing.input_size), dtype=np.float32)
    column = 0
    for feature in preprocessing.features:
        if isinstance(feature, NumericFeature):
            values = np.array([_number(row.get(feature.name)) for row in rows], dtype=np.float64)
            values[~np.isfinite(values)] = feature.mean
            matrix[:, column] = (values - feature.mean) / feature.std
            column += 1
        else:
            index = {word: i for i, word in enumerate(feature.vocabulary)}
            for r, row in enumerate(rows):
                word = _category(row.get(feature.name))
                position = None if word is None else index.get(word)
                if position is not None:
                    matrix[r, column + position] = 1.0
            column += len(feature.vocabulary)
    return matrix


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _category(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))  # 1.0 -> "1", as the trainer reads whole-number floats
    return str(value)
