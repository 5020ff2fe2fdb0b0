"""Every resource of the public API round-trips through the compact format."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bff.app import create_app
from bff.compact.codec import CompactError, decode, encode
from bff.compact.fields import response_tree, select
from bff.compact.schema import CompactSchema
from tests.bff.compact import strategies
from tests.bff.compact.realistic_viewer import realistic_dashboard

_SCHEMA = CompactSchema.from_routes(create_app().routes, "/api/")


def _instance(model: type[BaseModel], data: st.DataObject) -> BaseModel:
    values = data.draw(strategies.for_model(model))
    try:
        return model.model_validate(values)
    except ValidationError:
        reject()


@pytest.mark.parametrize("name", sorted(_SCHEMA.models))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_resource_round_trips(name: str, data: st.DataObject) -> None:
    model = _SCHEMA.models[name]
    instance = _instance(model, data)
    plain = instance.model_dump(mode="json")
    spec = {"t": "obj", "ref": name}

    wire = orjson.dumps(encode(plain, spec, _SCHEMA.resources))
    decoded = decode(orjson.loads(wire), spec, _SCHEMA.resources)

    assert model.model_validate(decoded) == instance
    assert decoded == plain


@pytest.mark.parametrize("name", sorted(_SCHEMA.models))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_selection_decodes_to_the_plain_answer_with_the_same_fields(
    name: str, data: st.DataObject
) -> None:
    plain = _instance(_SCHEMA.models[name], data).model_dump(mode="json")
    spec = {"t": "obj", "ref": name}
    fields = data.draw(strategies.selections(spec, _SCHEMA.resources, plain), label="fields")
    tree, unknown = response_tree(fields, spec, _SCHEMA.resources)
    assert unknown == []
    selected = select(plain, tree)  # what the route answers as JSON with ?fields=

    wire = orjson.dumps(encode(selected, spec, _SCHEMA.resources))
    decoded = decode(orjson.loads(wire), spec, _SCHEMA.resources, fields=fields)

    assert decoded == selected
    assert decode(orjson.loads(wire), spec, _SCHEMA.resources, fields=",".join(fields)) == decoded


def test_decoding_restores_empty_values_only_of_selected_fields() -> None:
    spec = {"t": "obj", "ref": "TrainingJob"}
    job = _job(model_name="")
    compact = encode(select(job, {"id": {}, "finished_at": {}}), spec, _SCHEMA.resources)

    decoded = decode(compact, spec, _SCHEMA.resources, fields=["id", "finished_at"])

    assert decoded == {"id": job["id"], "finished_at": None}
    page = {"t": "obj", "ref": "Page[TrainingJob]"}
    wire = encode(
        {"items": [select(job, {"features": {}})], "next_cursor": None}, page, _SCHEMA.resources
    )
    assert decode(wire, page, _SCHEMA.resources, fields="features") == {
        "items": [{"features": []}],
        "next_cursor": None,
    }
    with pytest.raises(CompactError, match="colour"):
        decode(compact, spec, _SCHEMA.resources, fields=["id", "colour"])


def test_every_route_resource_is_published() -> None:
    published = set(_SCHEMA.document["resources"])

    assert {"Dataset", "TrainingJob", "Model", "Notification", "Page[TrainingJob]"} <= published
    assert all(len(spec["version"]) == 12 for spec in _SCHEMA.document["resources"].values())


def _job(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": "0b5f4d0e-8c2a-4a8b-9d7e-3c1b2a4f5e6d",
        "status": "running",
        "created_at": "2026-01-02T03:04:05.123456Z",
        "finished_at": None,
        "features": [],
    }
    return {**job, **overrides}


def test_values_are_typed_and_empties_dropped() -> None:
    fields = _SCHEMA.resources["TrainingJob"]["fields"]
    spec = {"t": "obj", "ref": "TrainingJob"}

    encoded = encode(_job(), spec, _SCHEMA.resources)

    assert encoded[fields["id"]["k"]] == "C19NDowqSoudfjwbKk9ebQ"
    assert len(encoded[fields["id"]["k"]]) == 22
    assert encoded[fields["status"]["k"]] == 1
    assert encoded[fields["created_at"]["k"]] == 1767323045123456
    assert fields["finished_at"]["k"] not in encoded
    assert fields["features"]["k"] not in encoded


def test_lists_of_objects_are_sent_column_by_column() -> None:
    page = {"items": [_job(), _job(status="queued", finished_at="2026-01-02T03:04:06Z")]}
    spec = {"t": "obj", "ref": "Page[TrainingJob]"}
    fields = _SCHEMA.resources["TrainingJob"]["fields"]

    encoded = encode(page, spec, _SCHEMA.resources)
    columns = encoded["a"]

    assert columns["_k"] == [fields[n]["k"] for n in ("id", "status", "created_at", "finished_at")]
    assert columns["_d"][1] == [1, 0]  # status of each row
    assert columns["_d"][2] == [1767323045123456, 0]  # delta-coded: the same instant twice
    assert columns["_d"][3] == [None, 876544]  # microseconds after the row's created_at
    assert columns["_r"] == {fields["finished_at"]["k"]: fields["created_at"]["k"]}
    assert decode(encoded, spec, _SCHEMA.resources)["items"][1]["status"] == "queued"


def test_the_realistic_dashboard_round_trips() -> None:
    dashboard = realistic_dashboard(seed=3)
    plain = orjson.loads(dashboard.model_dump_json())
    spec = {"t": "obj", "ref": "Dashboard"}

    wire = orjson.dumps(encode(plain, spec, _SCHEMA.resources))

    assert decode(orjson.loads(wire), spec, _SCHEMA.resources) == plain
    assert len(wire) < len(orjson.dumps(plain)) / 2
