"""The committed compression dictionaries: what the generator makes, trained on answers of the
real shapes (JSON, and compact as the BFF encodes it), and worth having on answers they were
not trained on."""

from __future__ import annotations

import gzip
import random
import statistics
from pathlib import Path

import orjson
import pytest
import zstandard

from bff.app import create_app
from bff.compact.codec import decode, encode
from bff.compact.compression_dictionaries import CompressionDictionary
from bff.compact.dictionaries import FAMILIES, REPRESENTATIONS, Family, samples
from bff.compact.dictionaries.training import (
    SAMPLERS,
    SEED,
    raw_content,
    train,
    training_samples,
)
from bff.compact.schema import CompactSchema, iter_response_models
from bff.dashboard import Dashboard
from bff.sync.schemas import SyncAnswer
from proto.common import Page
from proto.datasets import ChangeFeed
from proto.notifications import Notification
from tests.support.bff_accounts import bff_settings

_FRESH_SEED = SEED + 1000  # answers the dictionaries never saw


_DICTIONARIES = [(family, compact) for family in FAMILIES for compact in REPRESENTATIONS]


def _name(case: tuple[Family, bool]) -> str:
    return case[0].file(case[1]).name


@pytest.mark.parametrize("case", _DICTIONARIES, ids=_name)
def test_the_committed_dictionary_is_what_the_generator_makes(case: tuple[Family, bool]) -> None:
    family, compact = case
    assert family.file(compact).read_bytes() == train(family, compact), (
        f"{family.file(compact).name} is stale (an answer's shape or key map changed?): "
        "run `python -m bff.compact.dictionaries` and commit the files"
    )


def test_samples_are_the_same_from_the_same_seed() -> None:
    for family in FAMILIES:
        assert training_samples(family, count=20) == training_samples(family, count=20)
        assert training_samples(family, count=20) != training_samples(family, 2, count=20)


def test_compact_samples_are_the_json_ones_as_the_bff_encodes_them_for_phones(
    tmp_path: Path,
) -> None:
    app = create_app(bff_settings(tmp_path))
    schema = CompactSchema.from_routes(app.routes, "/api/")
    for family in FAMILIES:
        path, _sampler = SAMPLERS[family.name]
        model = next(m for p, m in iter_response_models(app.routes) if p == path and m)
        spec = schema.spec_of(model)
        assert spec is not None
        plain = training_samples(family, count=20)
        compact = training_samples(family, count=20, compact=True)

        for json_body, compact_body in zip(plain, compact, strict=True):
            answer = orjson.loads(json_body)
            assert compact_body == samples.encoded(encode(answer, spec, schema.resources))
            decoded = decode(orjson.loads(compact_body), spec, schema.resources)
            assert samples.encoded(encode(decoded, spec, schema.resources)) == compact_body


def test_samples_have_the_shapes_of_the_real_answers() -> None:
    rnd = random.Random(_FRESH_SEED)
    for _ in range(200):
        SyncAnswer.model_validate(samples.sync_answer(rnd))
        ChangeFeed.model_validate(samples.dataset_changes(rnd))
        Page[Notification].model_validate(samples.notifications_page(rnd))
        Dashboard.model_validate(samples.dashboard(rnd))


@pytest.mark.parametrize("case", _DICTIONARIES, ids=_name)
def test_each_dictionary_beats_gzip_on_answers_it_was_not_trained_on(
    case: tuple[Family, bool],
) -> None:
    family, compact = case
    dictionary = CompressionDictionary(family, family.file(compact).read_bytes(), compact)
    answers = training_samples(family, _FRESH_SEED, count=100, compact=compact)
    gzipped = sum(len(gzip.compress(body, mtime=0)) for body in answers)
    dcz = sum(len(dictionary.compress(body, level=3)) for body in answers)

    # Ids, times and numbers are as random to a dictionary as to gzip: what a dictionary wins
    # is the shape (keys, kinds, enums, phrases), about a fifth of these answers' gzip bytes.
    assert dcz < 0.85 * gzipped


@pytest.mark.parametrize("compact", REPRESENTATIONS, ids=["json", "compact"])
def test_a_five_record_sync_delta_is_about_half_the_json_gzip_size(compact: bool) -> None:
    family = next(f for f in FAMILIES if f.name == "sync")
    dictionary = CompressionDictionary(family, family.file(compact).read_bytes(), compact)
    shape = samples.compact_encoder("/api/v1/sync")
    rnd = random.Random(_FRESH_SEED)
    ratios = []
    for _ in range(100):
        delta = samples.sync_answer(rnd, records=5)
        body = samples.encoded(shape(delta) if compact else delta)
        json_gzip = len(gzip.compress(samples.encoded(delta)))
        ratios.append(len(dictionary.compress(body, level=3)) / json_gzip)

    # The bench (tests/bench/bench_dictionary.py) reports the figures; random ids, times, the
    # packed cursor and training reports keep a delta from shrinking much further.
    assert statistics.median(ratios) < 0.65


def test_the_raw_dictionary_is_the_trained_content_without_its_header() -> None:
    trained = zstandard.train_dictionary(
        4096, training_samples(FAMILIES[0], count=300), k=290, d=8, threads=0
    ).as_bytes()
    content = raw_content(trained)

    assert trained.endswith(content) and len(trained) - len(content) < 1024
    assert content.isascii() and b"\x37\xa4\x30\xec" not in content  # no zstd dictionary magic
    with pytest.raises(ValueError, match="content"):
        raw_content(b"\x37\xa4\x30\xec" + bytes(range(256)))
