"""Rows checked against a feature schema and turned into onnxruntime inputs."""

from __future__ import annotations

import math

import numpy as np

from proto.inference import FeatureSpec
from services.inference.prediction import build_inputs, find_row_problems

FEATURES = [FeatureSpec(name="age", type="number"), FeatureSpec(name="city", type="string")]


def test_good_rows_have_no_problems() -> None:
    rows = [{"age": 3, "city": "paris"}, {"age": 2.5, "city": None}, {"age": None, "city": ""}]

    assert find_row_problems(rows, FEATURES, max_string_chars=100) == []


def test_each_bad_value_is_named_with_its_row() -> None:
    rows = [
        {"city": "paris"},
        {"age": "3", "city": "paris", "zip": "75001"},
        {"age": 1, "city": False},
        {"age": math.inf, "city": "x" * 101},
    ]

    problems = find_row_problems(rows, FEATURES, max_string_chars=100)

    assert [p.describe() for p in problems] == [
        "row 0: feature 'age' is missing",
        "row 1: feature 'age' must be a number, got a string",
        "row 1: feature 'zip' is not a feature of this model",
        "row 2: feature 'city' must be a string, got a boolean",
        "row 3: feature 'age' must be a finite number",
        "row 3: feature 'city' is longer than 100 characters",
    ]


def test_problems_are_capped() -> None:
    rows = [{"age": "x", "city": 1}] * 500

    assert len(find_row_problems(rows, FEATURES, max_string_chars=100)) == 100


def test_inputs_are_column_arrays_with_missing_values_filled() -> None:
    inputs = build_inputs([{"age": 3, "city": "paris"}, {"age": None, "city": None}], FEATURES)

    assert inputs["age"].dtype == np.float32 and inputs["age"].shape == (2, 1)
    assert inputs["age"][0, 0] == 3.0 and math.isnan(inputs["age"][1, 0])
    assert inputs["city"].dtype == object and inputs["city"].shape == (2, 1)
    assert inputs["city"].tolist() == [["paris"], [""]]
