"""Small PyTorch MLPs trained here and packed as "torch-safetensors" artifacts, as training does."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors.torch import save as save_safetensors
from torch import nn

from proto.torch_artifact import (
    CategoricalFeature,
    NumericFeature,
    Preprocessing,
    TorchArchitecture,
    encode_rows,
    pack_artifact,
)
from tests.support.onnx_models import SAMPLE_FEATURES, only_features, sample_rows


class _Mlp(nn.Module):
    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        out: torch.Tensor = self.layers[-1](x)
        return out


@dataclass(frozen=True)
class TorchModel:
    """A trained MLP (the training-time model), its artifact and held-out rows."""

    network: _Mlp
    architecture: TorchArchitecture
    artifact: bytes
    weights: dict[str, torch.Tensor]
    held_out: list[dict[str, Any]]

    @property
    def task(self) -> str:
        return self.architecture.task

    def register_metadata(self, name: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "task": self.architecture.task,
            "format": "torch-safetensors",
            "features": [{"name": n, "type": t} for n, t in SAMPLE_FEATURES.items()],
            "classes": self.architecture.classes,
            **extra,
        }

    def outputs(self, rows: list[dict[str, Any]]) -> NDArray[Any]:
        """What the training-time network says: probabilities, or de-scaled values."""
        x = torch.from_numpy(encode_rows(self.architecture.preprocessing, rows))
        with torch.no_grad():
            out = self.network(x)
        if self.architecture.task == "classification":
            return torch.softmax(out, dim=1).numpy()
        arch = self.architecture
        return out[:, 0].numpy().astype(np.float64) * arch.target_std + arch.target_mean


def train_torch_mlp(
    task: Literal["classification", "regression"],
    seed: int = 0,
    hidden_sizes: tuple[int, ...] = (16, 8),
) -> TorchModel:
    """A ReLU MLP ([16, 8] by default) fitted for a few epochs on the sample rows."""
    torch.manual_seed(seed)
    rows = sample_rows(200, seed)
    train, held_out = rows[:150], rows[150:]
    ages = np.array([r["age"] for r in train if r["age"] is not None])
    incomes = np.array([r["income"] for r in train])
    preprocessing = Preprocessing(
        features=[
            NumericFeature(name="age", mean=float(ages.mean()), std=float(ages.std())),
            NumericFeature(name="income", mean=float(incomes.mean()), std=float(incomes.std())),
            CategoricalFeature(name="city", vocabulary=["lyon", "nice", "paris"]),
        ]
    )
    levels = np.array([r["level"] for r in train])
    classify = task == "classification"
    architecture = TorchArchitecture(
        task=task,
        input_size=preprocessing.input_size,
        hidden_sizes=list(hidden_sizes),
        output_size=2 if classify else 1,
        preprocessing=preprocessing,
        classes=["no", "yes"] if classify else None,
        target_mean=0.0 if classify else float(levels.mean()),
        target_std=1.0 if classify else float(levels.std()),
    )
    network = _Mlp([architecture.input_size, *hidden_sizes, architecture.output_size])
    x = torch.from_numpy(encode_rows(preprocessing, train))
    if classify:
        y = torch.tensor([1 if r["label"] == "yes" else 0 for r in train])
        loss_fn: nn.Module = nn.CrossEntropyLoss()
    else:
        y = torch.tensor((levels - levels.mean()) / levels.std(), dtype=torch.float32)[:, None]
        loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01)
    for _ in range(60):
        optimizer.zero_grad()
        loss = loss_fn(network(x), y)
        loss.backward()
        optimizer.step()
    network.eval()
    weights = {
        name: tensor.detach().clone().contiguous() for name, tensor in network.state_dict().items()
    }
    return TorchModel(
        network=network,
        architecture=architecture,
        artifact=pack_artifact(architecture, save_safetensors(weights)),
        weights=weights,
        held_out=only_features(held_out, SAMPLE_FEATURES),
    )
