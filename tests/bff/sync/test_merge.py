"""The three-way merge of a label written offline against what the server holds."""

from __future__ import annotations

from bff.sync.merge import merge_fields

BASE = {"label": "cat", "note": None}


def test_edits_of_different_fields_both_stay() -> None:
    theirs = {"label": "cat", "note": "blurry"}
    assert merge_fields(BASE, {"label": "dog"}, theirs) == {"label": "dog", "note": "blurry"}


def test_the_same_field_changed_on_both_sides_to_different_values_is_a_conflict() -> None:
    assert merge_fields(BASE, {"label": "bird"}, {"label": "dog", "note": None}) is None


def test_both_sides_making_the_same_change_agree() -> None:
    theirs = {"label": "dog", "note": "x"}
    assert merge_fields(BASE, {"label": "dog"}, theirs) == theirs


def test_without_a_base_only_agreement_merges() -> None:
    theirs = {"label": "dog", "note": None}
    assert merge_fields(None, {"label": "dog"}, theirs) == theirs
    assert merge_fields(None, {"label": "cat"}, theirs) is None


def test_a_label_deleted_on_the_server_conflicts_with_an_edit_of_it() -> None:
    assert merge_fields(BASE, {"label": "dog"}, {"label": None, "note": None}) is None
