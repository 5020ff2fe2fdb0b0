"""Checking and opening "torch-safetensors" artifacts (layout: `proto.torch_artifact`).

The network is rebuilt from the JSON architecture out of an allow-list of layers (Linear and
the listed activations) and its weights are read with safetensors only: nothing is unpickled,
no code from the artifact runs. Everything here is blocking: run it on the inference pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from torch import nn

from proto.inference import FeatureSpec, FeatureValue
from proto.torch_artifact import (
    InvalidTorchArtifact,
    TorchArchitecture,
    encode_rows,
    unpack_artifact,
)
from proto.training import Task
from services.inference.onnx_artifacts import InvalidArtifact

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


@dataclass(frozen=True, slots=True)
class TorchRunner:
    """Runs a rebuilt MLP: rows -> encoded matrix -> logits (softmax) or scaled values."""

    architecture: TorchArchitecture
    network: nn.Sequential

    def run(
        self, rows: Sequence[Mapping[str, FeatureValue]]
    ) -> tuple[NDArray[Any], NDArray[Any] | None]:
        """Labels [N] and, for classifiers, probabilities [N, C]."""
        matrix = encode_rows(self.architecture.preprocessing, rows)
        with torch.inference_mode():
            out = self.network(torch.from_numpy(matrix))
            if self.architecture.task == "classification":
                probabilities = torch.softmax(out, dim=1).numpy()
                classes = np.array(self.architecture.classes, dtype=object)
                return classes[probabilities.argmax(axis=1)], probabilities
            values = out[:, 0].numpy().astype(np.float64)
        arch = self.architecture
        return values * arch.target_std + arch.target_mean, None


def open_torch_runner(data: bytes, intra_op_threads: int) -> TorchRunner:
    """A runner over a registered (already checked) artifact."""
    torch.set_num_threads(intra_op_threads)
    architecture, weights = _unpack(data)
    return TorchRunner(architecture, _build_network(architecture, weights))


def check_torch_artifact(
    data: bytes,
    features: Sequence[FeatureSpec],
    task: Task,
    classes: Sequence[str] | None,
    intra_op_threads: int = 1,
) -> TorchRunner:
    """The runner when the artifact is valid and matches the metadata, else InvalidArtifact."""
    runner = open_torch_runner(data, intra_op_threads)
    architecture = runner.architecture
    if architecture.task != task:
        raise InvalidArtifact(f"the architecture is a {architecture.task} model, not {task}")
    declared = {spec.name: spec.type for spec in features}
    built = {item.name: item.type for item in architecture.preprocessing.features}
    if declared != built:
        raise InvalidArtifact(
            f"the preprocessing features {sorted(built.items())} do not match the declared "
            f"features {sorted(declared.items())}"
        )
    if task == "classification" and list(classes or []) != architecture.classes:
        raise InvalidArtifact(
            f"the architecture's classes {architecture.classes} differ from the declared "
            f"classes {list(classes or [])}"
        )
    labels, _ = runner.run([dict.fromkeys(declared)])
    if task == "regression" and not np.all(np.isfinite(labels)):
        raise InvalidArtifact("the model gives a non-finite value for a row of missing values")
    return runner


def _unpack(data: bytes) -> tuple[TorchArchitecture, bytes]:
    try:
        return unpack_artifact(data)
    except InvalidTorchArtifact as exc:
        raise InvalidArtifact(str(exc).splitlines()[0][:300]) from exc


def _build_network(architecture: TorchArchitecture, weights: bytes) -> nn.Sequential:
    tensors = _load_tensors(weights)
    expected = architecture.tensor_shapes()
    if set(tensors) != set(expected):
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        raise InvalidArtifact(
            f"weights do not match the architecture: missing {missing}, extra {extra}"
        )
    for name, shape in expected.items():
        tensor = tensors[name]
        if tensor.dtype != torch.float32 or tuple(tensor.shape) != shape:
            raise InvalidArtifact(
                f"tensor {name!r} is {tensor.dtype} {tuple(tensor.shape)}, expected float32 {shape}"
            )
        if not torch.isfinite(tensor).all():
            raise InvalidArtifact(f"tensor {name!r} holds non-finite values")
    layers: list[nn.Module] = []
    shapes = architecture.layer_shapes()
    for i, (out_size, in_size) in enumerate(shapes):
        linear = nn.Linear(in_size, out_size)
        with torch.no_grad():
            linear.weight.copy_(tensors[f"layers.{i}.weight"])
            linear.bias.copy_(tensors[f"layers.{i}.bias"])
        layers.append(linear)
        if i < len(shapes) - 1:
            layers.append(_ACTIVATIONS[architecture.activation]())
    network = nn.Sequential(*layers)
    network.eval()
    network.requires_grad_(False)
    return network


def _load_tensors(weights: bytes) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise InvalidArtifact(f"weights.safetensors cannot be read: {exc}") from exc
