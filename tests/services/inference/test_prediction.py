"""Rows checked against a feature schema and turned into onnxruntime inputs."""

from __future__ import annotations

import math

import numpy as np

from proto.inference import FeatureSpec, Prediction
from services.inference.prediction import (
    build_inputs,
    find_row_problems,
    rows_without_an_answer,
)

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


def test_numbers_past_what_a_model_computes_in_are_refused() -> None:
    rows = [
        {"age": 1e308, "city": "a"},
        {"age": -(2**130), "city": "b"},
        {"age": 10**400, "city": "c"},
    ]
    rows += [{"age": math.nan, "city": "d"}, {"age": 3.4e38, "city": "e"}]

    problems = find_row_problems(rows, FEATURES, max_string_chars=100)

    assert [(p.row, p.problem) for p in problems] == [
        (0, "must be between -3.402823e+38 and 3.402823e+38"),
        (1, "must be between -3.402823e+38 and 3.402823e+38"),
        (2, "must be between -3.402823e+38 and 3.402823e+38"),
        (3, "must be a finite number"),
    ]


def test_rows_whose_answer_is_not_a_number_are_found() -> None:
    predictions = [
        Prediction(label="1", probabilities={"0": 0.2, "1": 0.8}, confidence=0.8),
        Prediction(label="0", probabilities={"0": math.nan, "1": math.nan}, confidence=math.nan),
        Prediction(label=2.5),
        Prediction(label=math.inf),
    ]

    assert rows_without_an_answer(predictions) == [1, 3]


def test_problems_are_capped() -> None:
    rows = [{"age": "x", "city": 1}] * 500

    assert len(find_row_problems(rows, FEATURES, max_string_chars=100)) == 100


def test_inputs_are_column_arrays_with_missing_values_filled() -> None:
    inputs = build_inputs([{"age": 3, "city": "paris"}, {"age": None, "city": None}], FEATURES)

    assert inputs["age"].dtype == np.float32 and inputs["age"].shape == (2, 1)
    assert inputs["age"][0, 0] == 3.0 and math.isnan(inputs["age"][1, 0])
    assert inputs["city"].dtype == object and inputs["city"].shape == (2, 1)
    assert inputs["city"].tolist() == [["paris"], [""]]
