"""The committed compression dictionaries: what the generator makes, trained on answers of the
real shapes, and worth having on answers they were not trained on."""

from __future__ import annotations

import gzip
import random
import statistics

import pytest
import zstandard

from bff.compact.compression_dictionaries import CompressionDictionary
from bff.compact.dictionaries import FAMILIES, Family, samples
from bff.compact.dictionaries.training import SEED, raw_content, train, training_samples
from bff.dashboard import Dashboard
from bff.sync.schemas import SyncAnswer
from proto.common import Page
from proto.datasets import ChangeFeed
from proto.notifications import Notification

_FRESH_SEED = SEED + 1000  # answers the dictionaries never saw


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_the_committed_dictionary_is_what_the_generator_makes(family: Family) -> None:
    assert family.file.read_bytes() == train(family), (
        f"{family.file.name} is stale (an answer's shape changed?): "
        "run `python -m bff.compact.dictionaries` and commit the files"
    )


def test_samples_are_the_same_from_the_same_seed() -> None:
    for family in FAMILIES:
        assert training_samples(family, count=20) == training_samples(family, count=20)
        assert training_samples(family, count=20) != training_samples(family, 2, count=20)


def test_samples_have_the_shapes_of_the_real_answers() -> None:
    rnd = random.Random(_FRESH_SEED)
    for _ in range(200):
        SyncAnswer.model_validate(samples.sync_answer(rnd))
        ChangeFeed.model_validate(samples.dataset_changes(rnd))
        Page[Notification].model_validate(samples.notifications_page(rnd))
        Dashboard.model_validate(samples.dashboard(rnd))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_each_dictionary_beats_gzip_on_answers_it_was_not_trained_on(family: Family) -> None:
    dictionary = CompressionDictionary(family, family.file.read_bytes())
    answers = training_samples(family, _FRESH_SEED, count=100)
    gzipped = sum(len(gzip.compress(body, mtime=0)) for body in answers)
    dcz = sum(len(dictionary.compress(body, level=3)) for body in answers)

    assert dcz < 0.8 * gzipped


def test_a_five_record_sync_delta_is_about_half_its_gzip_size() -> None:
    family = next(f for f in FAMILIES if f.name == "sync")
    dictionary = CompressionDictionary(family, family.file.read_bytes())
    rnd = random.Random(_FRESH_SEED)
    ratios = []
    for _ in range(100):
        body = samples.encoded(samples.sync_answer(rnd, records=5))
        ratios.append(len(dictionary.compress(body, level=3)) / len(gzip.compress(body)))

    # The bench (tests/bench/bench_dictionary.py) reports the figures; random ids, times and
    # training reports keep a delta from shrinking much further.
    assert statistics.median(ratios) < 0.6


def test_the_raw_dictionary_is_the_trained_content_without_its_header() -> None:
    trained = zstandard.train_dictionary(
        4096, training_samples(FAMILIES[0], count=300), k=290, d=8, threads=0
    ).as_bytes()
    content = raw_content(trained)

    assert trained.endswith(content) and len(trained) - len(content) < 1024
    assert content.isascii() and b"\x37\xa4\x30\xec" not in content  # no zstd dictionary magic
    with pytest.raises(ValueError, match="content"):
        raw_content(b"\x37\xa4\x30\xec" + bytes(range(256)))
