"""Fixtures of the inference service tests: a running app and a small client of its API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.inference.app import create_app
from tests.support.apps import running_app
from tests.support.inference_api import InferenceApi, inference_settings
from tests.support.onnx_models import TrainedModel, train_classifier, train_regressor


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[InferenceApi]:
    async with running_app(create_app(inference_settings(tmp_path))) as client:
        yield InferenceApi(client)


@pytest.fixture(scope="session")
def classifier() -> TrainedModel:
    return train_classifier(seed=0)


@pytest.fixture(scope="session")
def classifier_v2() -> TrainedModel:
    return train_classifier(seed=1)


@pytest.fixture(scope="session")
def regressor() -> TrainedModel:
    return train_regressor(seed=0)
