"""Compression Dictionary Transport (RFC 9842), issue 13 item 6: small answers, smaller.

Bytes on the wire of small answers in each coding the BFF speaks (identity, gzip, br, zstd at
the BFF's levels, and dcz with the family's committed dictionary), as plain JSON and in the
compact form phones ask for (`Accept: application/vnd.tern.compact+json`, dcz with the
family's compact dictionary); the ratios to JSON+gzip (target: a 5-record sync delta <= 0.5 of
it), and the CPU each coding costs per answer.

Answers come from the same synthetic generator the dictionaries are trained on
(bff/compact/dictionaries/samples.py), from seeds the training never used; the headline
5-record delta is the median of many such deltas, whose kinds are drawn as often as they
change (labels and notifications most). The dcz bytes are checked against what the
representation middleware itself answers.
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from bff.compact.compression import Compressors
from bff.compact.compression_dictionaries import CompressionDictionary, committed_dictionaries
from bff.compact.dictionaries import samples
from bff.compact.representation import COMPACT_MEDIA_TYPE, RepresentationMiddleware, Represented
from bff.settings import BffSettings
from bff.sync.schemas import SyncAnswer
from tests.bench.reporting import BenchResult

FRESH_SEED = 20_261_306  # never a training seed
DELTAS = 300
TARGET = 0.5
CODINGS = ("identity", "gzip", "br", "zstd", "dcz")
# The compact form's bytes: as sent, and in the codings a phone's answer would get.
COMPACT = {"compact": "identity", "compact gzip": "gzip", "compact br": "br", "compact dcz": "dcz"}
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SETTINGS = BffSettings()
_COMPRESSORS = Compressors(_SETTINGS.brotli_quality, _SETTINGS.zstd_level, _SETTINGS.gzip_level)

Json = dict[str, Any]
NAMED: tuple[tuple[str, str, Callable[[random.Random], Json]], ...] = (
    (
        "sync: 1 label",
        "/api/v1/sync",
        lambda rnd: samples.sync_answer(rnd, kinds=["labels"]),
    ),
    (
        "sync: 5 labels",
        "/api/v1/sync",
        lambda rnd: samples.sync_answer(rnd, kinds=["labels"] * 5),
    ),
    (
        "sync: 3 labels, a notification, a session",
        "/api/v1/sync",
        lambda rnd: samples.sync_answer(rnd, kinds=["labels"] * 3 + ["notifications", "sessions"]),
    ),
    (
        "sync: a job done (with its report), model, version, alias, push",
        "/api/v1/sync",
        lambda rnd: samples.sync_answer(
            rnd,
            kinds=["training_jobs", "models", "model_versions", "model_aliases", "notifications"],
        ),
    ),
    ("sync: 20 records", "/api/v1/sync", lambda rnd: samples.sync_answer(rnd, records=20)),
    ("datasets/changes", "/api/v1/datasets/changes", samples.dataset_changes),
    ("notifications page", "/api/v1/notifications", samples.notifications_page),
    ("dashboard (first pages)", "/api/v1/dashboard", samples.dashboard),
)


def _dictionary(path: str, compact: bool = False) -> CompressionDictionary:
    dictionary = committed_dictionaries().for_path(path, compact)
    assert dictionary is not None
    return dictionary


def _encoders(path: str, compact: bool = False) -> dict[str, Callable[[bytes], bytes]]:
    dictionary = _dictionary(path, compact)
    return {
        "identity": lambda body: body,
        "gzip": _COMPRESSORS.compressor("gzip"),
        "br": _COMPRESSORS.compressor("br"),
        "zstd": _COMPRESSORS.compressor("zstd"),
        "dcz": lambda body: dictionary.compress(body, _COMPRESSORS.zstd_level),
    }


def _sizes(path: str, answers: list[Json]) -> list[dict[str, int]]:
    """Bytes of each answer in every coding, as JSON and (`compact ...`) in the compact form."""
    encoders, compact_encoders = _encoders(path), _encoders(path, compact=True)
    shape = samples.compact_encoder(path)
    sizes = []
    for answer in answers:
        body, compact = samples.encoded(answer), samples.encoded(shape(answer))
        size = {coding: len(encoders[coding](body)) for coding in CODINGS}
        for name, coding in COMPACT.items():
            size[name] = len(compact_encoders[coding](compact))
        sizes.append(size)
    return sizes


def _cpu_us(path: str, bodies: list[bytes]) -> dict[str, float]:
    """CPU microseconds per answer of each coding (best of 3 passes over the bodies)."""
    figures = {}
    for coding, encode in _encoders(path).items():
        if coding == "identity":
            continue
        for body in bodies[:5]:
            encode(body)  # warm: a dictionary is prepared once per process
        passes = []
        for _ in range(3):
            started = time.process_time()
            for body in bodies:
                encode(body)
            passes.append((time.process_time() - started) / len(bodies) * 1e6)
        figures[coding] = min(passes)
    return figures


def _row(name: str, sizes: list[dict[str, int]], cpu: dict[str, float]) -> dict[str, Any]:
    median = {size: int(statistics.median(s[size] for s in sizes)) for size in (*CODINGS, *COMPACT)}
    ratios = sorted(s["dcz"] / s["gzip"] for s in sizes)
    return {
        "answer": name,
        "n": len(sizes),
        **median,
        "dcz/gzip": round(statistics.median(ratios), 3),
        "dcz/gzip p90": round(ratios[int(len(ratios) * 0.9)] if len(ratios) > 1 else ratios[0], 3),
        "dcz/br": round(statistics.median(s["dcz"] / s["br"] for s in sizes), 3),
        "compact dcz/gzip": round(
            statistics.median(s["compact dcz"] / s["gzip"] for s in sizes), 3
        ),
        "compact dcz/compact gzip": round(
            statistics.median(s["compact dcz"] / s["compact gzip"] for s in sizes), 3
        ),
        **{f"{coding} us": round(cpu[coding], 1) for coding in ("gzip", "br", "zstd", "dcz")},
    }


async def _through_the_middleware(answer: Json, dictionary: CompressionDictionary) -> bytes:
    """The dcz bytes the representation middleware answers a phone that holds the dictionary
    (and asks for the compact form when that is the compact dictionary)."""
    app = FastAPI()
    router = APIRouter(prefix="/api/v1")

    @router.post("/sync", response_model=SyncAnswer)
    async def sync() -> Represented:
        return Represented(answer)

    app.include_router(router)
    app.add_middleware(
        RepresentationMiddleware,
        prefix="/api/",
        min_compress_bytes=_SETTINGS.compress_min_bytes,
        compressors=_COMPRESSORS,
    )
    offer = f":{base64.b64encode(dictionary.sha256).decode()}:"
    headers = {"accept-encoding": "gzip, br, zstd, dcz", "available-dictionary": offer}
    if dictionary.compact:
        headers["accept"] = COMPACT_MEDIA_TYPE
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        async with client.stream("POST", "/api/v1/sync", headers=headers) as response:
            assert response.headers["content-encoding"] == "dcz"
            return b"".join([chunk async for chunk in response.aiter_raw()])


def _with_base64url_ids(compact: bytes) -> bytes:
    """A what-if: the compact body with every uuid still written as 36 hex characters (feed
    ids such as `<dataset>/<version>/<row>`, ids inside free-form maps) as the codec writes
    the uuid fields, 22 base64url characters: the same id is then spelled the same way."""

    def base64url(match: re.Match[bytes]) -> bytes:
        return base64.urlsafe_b64encode(uuid.UUID(match.group().decode()).bytes).rstrip(b"=")

    return _UUID.sub(base64url, compact)


def run() -> BenchResult:
    rnd = random.Random(FRESH_SEED)
    sync, sync_compact = _dictionary("/api/v1/sync"), _dictionary("/api/v1/sync", compact=True)
    deltas = [samples.sync_answer(rnd, records=5) for _ in range(DELTAS)]
    bodies = [samples.encoded(delta) for delta in deltas]
    compact_bodies = [samples.encoded(samples.compact_encoder("/api/v1/sync")(d)) for d in deltas]
    for dictionary, body in ((sync, bodies[0]), (sync_compact, compact_bodies[0])):
        wire = asyncio.run(_through_the_middleware(deltas[0], dictionary))
        assert wire == dictionary.compress(body, _COMPRESSORS.zstd_level), "bench != middleware"
    sizes = _sizes("/api/v1/sync", deltas)
    headline = _row(
        "sync: 5-record delta (kinds as often as they change)",
        sizes,
        _cpu_us("/api/v1/sync", bodies),
    )
    rows = [headline]
    for name, path, make in NAMED:
        named = [make(rnd) for _ in range(60)]
        rows.append(
            _row(name, _sizes(path, named), _cpu_us(path, [samples.encoded(a) for a in named]))
        )
    ratios = [s["dcz"] / s["gzip"] for s in sizes]
    compact_ratios = [s["compact dcz"] / s["gzip"] for s in sizes]
    compact_gains = [s["compact dcz"] / s["compact gzip"] for s in sizes]
    with_json_dictionary = [  # how compact answers were coded before they had their own
        len(sync.compress(body, _COMPRESSORS.zstd_level)) / s["gzip"]
        for body, s in zip(compact_bodies, sizes, strict=True)
    ]
    same_ids = [
        len(sync_compact.compress(_with_base64url_ids(body), _COMPRESSORS.zstd_level)) / s["gzip"]
        for body, s in zip(compact_bodies, sizes, strict=True)
    ]
    without_report = [
        s["dcz"] / s["gzip"]
        for s, delta in zip(sizes, deltas, strict=True)
        if not any(
            item["data"].get("result")
            for item in delta["changes"].get("training_jobs", {}).get("upserts", [])
        )
    ]
    summary = {
        f"5-record sync delta, dcz / gzip (median of {DELTAS}; target <= {TARGET})": round(
            statistics.median(ratios), 3
        ),
        "5-record sync delta, smaller than gzip by (median)": (
            f"{1 - statistics.median(ratios):.1%}"
        ),
        "5-record deltas meeting the target": (
            f"{sum(r <= TARGET for r in ratios) / len(ratios):.0%}"
        ),
        "5-record deltas without a finished job's report: dcz / gzip (median)": round(
            statistics.median(without_report), 3
        ),
        "5-record deltas without a finished job's report meeting the target": (
            f"{sum(r <= TARGET for r in without_report) / len(without_report):.0%}"
            f" (of {len(without_report)})"
        ),
        "5-record sync delta, bytes gzip -> dcz (median)": (
            f"{headline['gzip']:,} -> {headline['dcz']:,}"
        ),
        f"5-record delta, compact+dcz / JSON+gzip (median of {DELTAS}; target <= {TARGET})": (
            f"{statistics.median(compact_ratios):.3f}"
        ),
        "5-record delta, compact+dcz / compact+gzip (median)": (
            f"{statistics.median(compact_gains):.3f}"
        ),
        "5-record deltas meeting the target in compact+dcz": (
            f"{sum(r <= TARGET for r in compact_ratios) / len(compact_ratios):.0%}"
        ),
        "5-record sync delta, bytes JSON+gzip -> compact+gzip -> compact+dcz (median)": (
            f"{headline['gzip']:,} -> {headline['compact gzip']:,} -> {headline['compact dcz']:,}"
        ),
        "5-record delta, compact+dcz with the JSON dictionary / JSON+gzip (median)": (
            f"{statistics.median(with_json_dictionary):.3f}"
        ),
        "what-if: compact+dcz / JSON+gzip with every uuid in base64url (median)": (
            f"{statistics.median(same_ids):.3f}"
        ),
        "dictionary bytes (sync, JSON / compact)": (
            f"{len(sync.content):,} / {len(sync_compact.content):,}"
        ),
    }
    notes = [
        "Bytes: the body on the wire, median per answer; dcz includes its 40-byte header "
        "(magic + the dictionary's SHA-256). Levels: the BFF's (brotli 5, zstd 3, gzip 6); dcz "
        "compresses answers up to 4 KiB at zstd level 14 and larger ones at the zstd level, "
        "with the family's 16 KiB raw dictionary (bff/compact/dictionaries/).",
        "Answers: synthetic, from seeds the dictionaries were not trained on; a succeeded "
        "training job's upsert carries its report (ROC curves, history, feature importance), "
        "mostly random floats no dictionary can predict; random ids, timestamps and metrics "
        "bound every coding.",
        "Compact: the same answers as the BFF answers `Accept: "
        "application/vnd.tern.compact+json` (the compact codec with the key maps of the BFF's "
        "routes: short keys, columns, uuid fields in base64url, epoch-microsecond timestamps); "
        "compact dcz uses the family's compact dictionary, trained on compact answers. "
        "compact dcz/gzip is compact+dcz over JSON+gzip (the target's ratio).",
        "What-if (not what the BFF sends): the compact codec rewrites uuid fields in base64url "
        "but leaves ids inside strings and free-form maps in hex, so an entity id that JSON "
        "repeats verbatim (a feed entry's id and its data's id) is spelled two ways and no "
        "longer matches; rewriting every uuid of the compact body in base64url (compressed "
        "with the same compact dictionary) shows what that costs.",
        "CPU: process time per JSON answer to compress (best of 3 passes), on this shared "
        "2-core machine; compare within one run.",
    ]
    columns = ["answer", "n", *CODINGS, "dcz/gzip", "dcz/gzip p90", "dcz/br", *COMPACT]
    columns += ["compact dcz/gzip", "compact dcz/compact gzip"]
    columns += ["gzip us", "br us", "zstd us", "dcz us"]
    return BenchResult(
        name="dictionary",
        title="Compression dictionaries (RFC 9842 dcz): bytes and CPU of small answers",
        columns=columns,
        rows=rows,
        summary=summary,
        notes=notes,
    )
