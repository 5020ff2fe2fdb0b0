"""The PyTorch MLP: preprocessing fitted on the training rows, early stopping, safetensors export.

The artifact layout is `proto.torch_artifact`'s; nothing here pickles or unpickles anything.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors.torch import save as save_safetensors
from torch import nn

from proto.torch_artifact import (
    MAX_VOCABULARY,
    CategoricalFeature,
    NumericFeature,
    Preprocessing,
    TorchArchitecture,
    pack_artifact,
)
from services.training.cpu_budget import capped_threads

# One epoch's figures: {epoch, loss, val_loss, metric, val_metric, eta_s}.
ProgressCallback = Callable[[dict[str, float]], None]
DEFAULTS: dict[str, Any] = {
    "hidden_layers": [64, 32],
    "epochs": 50,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "patience": 5,
    "dropout": 0.0,
    "weight_decay": 0.0,
}


def fit_preprocessing(x: NDArray[Any], kinds: list[tuple[str, str]]) -> Preprocessing:
    """Mean/std of each number column and the vocabulary of each string column, from `x`."""
    features: list[NumericFeature | CategoricalFeature] = []
    for i, (name, kind) in enumerate(kinds):
        column = x[:, i]
        if kind == "number":
            values = column.astype(np.float64)
            finite = values[np.isfinite(values)]
            mean = float(finite.mean()) if finite.size else 0.0
            std = float(finite.std()) if finite.size else 0.0
            features.append(NumericFeature(name=name, mean=mean, std=std if std > 1e-12 else 1.0))
        else:
            counts = Counter(v for v in column.tolist() if v != "")
            words = sorted(w for w, _ in counts.most_common(MAX_VOCABULARY)) or [""]
            features.append(CategoricalFeature(name=name, vocabulary=words))
    return Preprocessing(features=features)


def encode_matrix(preprocessing: Preprocessing, x: NDArray[Any]) -> NDArray[np.float32]:
    """Vectorised `proto.torch_artifact.encode_rows` over the trainer's object matrix."""
    parts: list[NDArray[np.float32]] = []
    for i, feature in enumerate(preprocessing.features):
        column = x[:, i]
        if isinstance(feature, NumericFeature):
            values = column.astype(np.float64)
            values[~np.isfinite(values)] = feature.mean
            parts.append(((values - feature.mean) / feature.std).astype(np.float32)[:, None])
        else:
            index = {word: j for j, word in enumerate(feature.vocabulary) if word != ""}
            onehot = np.zeros((len(column), len(feature.vocabulary)), dtype=np.float32)
            positions = [index.get(v, -1) for v in column.tolist()]
            rows = [r for r, p in enumerate(positions) if p >= 0]
            onehot[rows, [positions[r] for r in rows]] = 1.0
            parts.append(onehot)
    return np.concatenate(parts, axis=1)


class MLP(nn.Module):
    """Linear layers named `layers.{i}` (the artifact's tensor names), ReLU, optional dropout."""

    def __init__(self, sizes: list[int], dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Indexing, not slicing: a slice of a ModuleList builds a new module on every call.
        hidden = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < hidden:
                x = torch.relu(x)
                if self.dropout:
                    x = nn.functional.dropout(x, self.dropout, self.training)
        return x


@dataclass
class TorchModel:
    """A trained MLP with its preprocessing; predicts like a scikit-learn estimator."""

    architecture: TorchArchitecture
    network: MLP
    history: list[dict[str, float]]

    @property
    def classes_(self) -> NDArray[Any]:
        return np.asarray(self.architecture.classes or [], dtype=object)

    def _outputs(self, x: NDArray[Any]) -> torch.Tensor:
        encoded = torch.from_numpy(encode_matrix(self.architecture.preprocessing, x))
        self.network.eval()
        with torch.no_grad():
            out: torch.Tensor = self.network(encoded)
        return out

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float64]:
        probabilities = torch.softmax(self._outputs(x), dim=1)
        return np.asarray(probabilities.numpy(), dtype=np.float64)

    def predict(self, x: NDArray[Any]) -> NDArray[Any]:
        if self.architecture.task == "classification":
            return np.asarray(self.classes_[self.predict_proba(x).argmax(axis=1)], dtype=object)
        out = self._outputs(x)[:, 0].numpy().astype(np.float64)
        return out * self.architecture.target_std + self.architecture.target_mean

    def artifact(self) -> bytes:
        """The torch-safetensors artifact: architecture JSON and float32 weights, zipped."""
        tensors = {k: v.detach().contiguous() for k, v in self.network.state_dict().items()}
        return pack_artifact(self.architecture, save_safetensors(tensors))


def fit_mlp(
    task: str,
    kinds: list[tuple[str, str]],
    data: tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]],
    hyperparameters: dict[str, Any],
    seed: int,
    threads: int,
    between_epochs: Callable[[], None],
    progress: ProgressCallback | None = None,
) -> TorchModel:
    """Train with Adam on minibatches; stop when validation loss stops improving (patience)."""
    x_train, x_val, y_train, y_val = data
    params = {**DEFAULTS, **hyperparameters}
    # Never more threads than this process may run on (affinity, cgroup quota).
    torch.set_num_threads(capped_threads(threads))
    torch.manual_seed(seed)
    preprocessing = fit_preprocessing(x_train, kinds)
    classify = task == "classification"
    classes = sorted({str(v) for v in y_train.tolist()}) if classify else None
    target_mean, target_std = 0.0, 1.0
    if not classify:
        target_mean = float(np.mean(y_train))
        target_std = float(np.std(y_train)) or 1.0
    architecture = TorchArchitecture(
        task="classification" if classify else "regression",
        input_size=preprocessing.input_size,
        hidden_sizes=list(params["hidden_layers"]),
        output_size=len(classes) if classes else 1,
        preprocessing=preprocessing,
        classes=classes,
        target_mean=target_mean,
        target_std=target_std,
    )
    network = MLP(
        [architecture.input_size, *architecture.hidden_sizes, architecture.output_size],
        float(params["dropout"]),
    )
    model = TorchModel(architecture, network, history=[])

    def targets(y: NDArray[Any]) -> torch.Tensor:
        if classes is not None:
            index = {c: i for i, c in enumerate(classes)}
            return torch.tensor([index.get(str(v), 0) for v in y.tolist()], dtype=torch.long)
        scaled = (y.astype(np.float64) - target_mean) / target_std
        return torch.from_numpy(scaled.astype(np.float32))[:, None]

    xt = torch.from_numpy(encode_matrix(preprocessing, x_train))
    xv = torch.from_numpy(encode_matrix(preprocessing, x_val))
    yt, yv = targets(y_train), targets(y_val)
    loss_fn: nn.Module = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    optimizer = torch.optim.Adam(
        network.parameters(),
        lr=float(params["learning_rate"]),
        weight_decay=float(params["weight_decay"]),
    )
    generator = torch.Generator().manual_seed(seed)
    epochs, batch, patience = (
        int(params["epochs"]),
        int(params["batch_size"]),
        int(params["patience"]),
    )
    best_loss, best_state, stale = math.inf, None, 0
    started = time.monotonic()
    for epoch in range(1, epochs + 1):
        between_epochs()
        network.train()
        order = torch.randperm(len(xt), generator=generator)
        total, correct = 0.0, 0.0
        for start in range(0, len(xt), batch):
            rows = order[start : start + batch]
            target = yt[rows]
            optimizer.zero_grad()
            out = network(xt[rows])
            loss = loss_fn(out, target)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
            if classify:
                correct += float((out.detach().argmax(dim=1) == target).sum())
        # Train figures are running averages over the epoch (no second pass over the rows).
        step = _evaluate(model, loss_fn, (xv, yv), classify)
        train_loss = total / max(1, len(xt))
        step["metric"] = (
            correct / max(1, len(xt)) if classify else math.sqrt(train_loss) * target_std
        )
        step["epoch"] = float(epoch)
        step["loss"] = train_loss
        elapsed = time.monotonic() - started
        step["eta_s"] = elapsed / epoch * (epochs - epoch)
        model.history.append(step)
        if progress is not None:
            progress(step)
        if step["val_loss"] < best_loss - 1e-7:
            best_loss, stale = step["val_loss"], 0
            best_state = {k: v.clone() for k, v in network.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        network.load_state_dict(best_state)
    return model


def _evaluate(
    model: TorchModel,
    loss_fn: nn.Module,
    tensors: tuple[torch.Tensor, torch.Tensor],
    classify: bool,
) -> dict[str, float]:
    """Validation loss and metric (accuracy, or RMSE in target units)."""
    xv, yv = tensors
    if not len(xv):
        return {"val_loss": math.nan, "val_metric": math.nan}
    model.network.eval()
    with torch.no_grad():
        out = model.network(xv)
        val_loss = float(loss_fn(out, yv))
        if classify:
            val_metric = float((out.argmax(dim=1) == yv).float().mean())
        else:
            val_metric = math.sqrt(float(((out - yv) ** 2).mean())) * model.architecture.target_std
    return {"val_loss": val_loss, "val_metric": val_metric}
