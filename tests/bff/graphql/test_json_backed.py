"""Types read from a service's JSON field by field: every field has a reader, a field is
converted on its first read only, and the answer is the one an object built whole gives."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry

from bff.graphql.plain_fields import PlainFieldsExecutionContext
from bff.graphql.types.dataset import Dataset
from bff.graphql.types.json_backed import JsonBacked
from bff.graphql.types.model import Model
from bff.graphql.types.node import from_global_id
from bff.graphql.types.training_job import TrainingJob

BACKED: list[type[JsonBacked]] = [Dataset, Model, TrainingJob]

JOB: dict[str, Any] = {
    "id": "0b1c7c2e-55a4-4f5e-9a7d-2f0e6f1d7a01",
    "status": "succeeded",
    "dataset_id": "8e6f0b2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
    "dataset_version": 2,
    "target": "churned",
    "features": ["tenure", "plan"],
    "task": "classification",
    "model": "logistic_regression",
    "model_name": "Churn predictor",
    "hyperparameters": {"C": 1.0},
    "created_at": "2026-12-06T20:00:00.250000+00:00",
    "started_at": "2026-12-06T20:00:01+00:00",
    "finished_at": None,
    "error": None,
    "metrics": {"accuracy": 0.91},
    "model_id": None,
    "model_version": None,
}


@pytest.mark.parametrize("backed", BACKED, ids=lambda t: t.__name__)
def test_every_field_has_a_reader(backed: type[JsonBacked]) -> None:
    assert dataclasses.is_dataclass(backed)
    resolved = {
        field.python_name
        for field in backed.__strawberry_definition__.fields
        if field.base_resolver is not None
    }
    valued = {field.name for field in dataclasses.fields(backed)} - resolved
    assert set(backed.readers) == valued


def test_a_field_is_converted_when_first_read_and_kept() -> None:
    job = TrainingJob.from_json(JOB)
    assert "created_at" not in vars(job)  # nothing converted before it is read

    assert job.created_at == datetime(2026, 12, 6, 20, 0, 0, 250000, tzinfo=UTC)
    assert vars(job)["created_at"] is job.created_at  # kept: the second read converts nothing
    assert job.started_at == datetime(2026, 12, 6, 20, 0, 1, tzinfo=UTC)
    assert job.finished_at is None and job.model_id is None
    assert from_global_id(job.global_id).raw_id == JOB["id"]
    metrics: Any = job.metrics
    assert metrics == {"accuracy": 0.91}


def test_a_backed_object_equals_the_one_built_whole() -> None:
    lazy = TrainingJob.from_json(JOB)
    whole = TrainingJob(**{name: getattr(lazy, name) for name in TrainingJob.readers})
    assert lazy == whole
    assert whole.status == "succeeded"


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    job = TrainingJob.from_json(JOB)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = job.nope
    assert getattr(job, "__strawberry_cast__", None) is None  # probes keep working


@strawberry.type
class Catalog:
    datasets: list[Dataset]


def _catalog_answer(items: list[dict[str, Any]], execution_context_class: Any) -> dict[str, Any]:
    schema = strawberry.Schema(query=Catalog, execution_context_class=execution_context_class)
    catalog = Catalog(datasets=[Dataset.from_json(item) for item in items])
    document = "{ datasets { id name rowCount updatedAt globalId } }"
    result = asyncio.run(schema.execute(document, root_value=catalog))
    return {"data": result.data, "errors": [(e.message, e.path) for e in result.errors or []]}


def _dataset(n: int) -> dict[str, Any]:
    return {
        "id": f"5a0c{n:04d}-0000-4000-8000-000000000000",
        "name": f"export_{n}.csv",
        "latest_version": 1,
        "row_count": 100 * n,
        "columns": [{"name": "x", "type": "number", "nulls": 0, "distinct_estimate": n}],
        "created_at": f"2026-12-06T20:{n:02d}:00+00:00",
        "updated_at": f"2026-12-06T21:{n:02d}:00+00:00",
    }


def test_backed_objects_answer_what_graphql_core_answers() -> None:
    items = [_dataset(n) for n in range(1, 6)]
    core = _catalog_answer(items, None)
    assert _catalog_answer(items, PlainFieldsExecutionContext) == core
    assert core["errors"] == []
    assert core["data"]["datasets"][1]["rowCount"] == 200
    assert core["data"]["datasets"][1]["updatedAt"] == "2026-12-06T21:02:00+00:00"


def test_an_item_missing_a_field_is_reported_at_that_field() -> None:
    broken = _dataset(2)
    del broken["updated_at"]
    items = [_dataset(1), broken]
    core = _catalog_answer(items, None)
    assert _catalog_answer(items, PlainFieldsExecutionContext) == core
    assert [path for _message, path in core["errors"]] == [["datasets", 1, "updatedAt"]]
