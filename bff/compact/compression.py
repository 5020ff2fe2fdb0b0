"""Content codings for responses: brotli, zstd and gzip, chosen by Accept-Encoding; and dcz
(zstd with a shared dictionary, RFC 9842) where the client holds the dictionary."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass

import brotli
import zstandard

# Best first at equal q: dcz is by far the smallest where it applies; brotli is smallest on
# JSON without a dictionary, zstd close and cheaper, gzip everywhere.
_PREFERENCE = ("dcz", "br", "zstd", "gzip")


@dataclass(frozen=True, slots=True)
class Compressors:
    """Compression levels tuned for small dynamic JSON answered many times a second."""

    brotli_quality: int = 5
    zstd_level: int = 3
    gzip_level: int = 6

    def compressor(self, coding: str) -> Callable[[bytes], bytes]:
        """The function that applies `coding`."""
        if coding == "br":
            return lambda body: brotli.compress(
                body, mode=brotli.MODE_TEXT, quality=self.brotli_quality
            )
        if coding == "zstd":
            level = self.zstd_level
            return lambda body: zstandard.ZstdCompressor(level=level).compress(body)
        if coding == "gzip":
            return lambda body: gzip.compress(body, compresslevel=self.gzip_level, mtime=0)
        raise ValueError(f"unknown content coding {coding!r}")


def choose_coding(accept_encoding: str | None, *, dictionary: bool = False) -> str | None:
    """The coding to answer with, or None for identity (RFC 9110 12.5.3, q-values honoured).

    dcz only with `dictionary` (the client holds the dictionary for this request) and only
    when named: a `*` says nothing about dictionaries."""
    if not accept_encoding:
        return None
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weights[name] = _q(params)
    wildcard = weights.get("*", 0.0)
    best: tuple[float, int] | None = None
    chosen = None
    for rank, coding in enumerate(_PREFERENCE):
        if coding == "dcz" and not dictionary:
            continue
        q = weights.get(coding, 0.0 if coding == "dcz" else wildcard)
        if q <= 0:
            continue
        if best is None or (q, -rank) > best:
            best, chosen = (q, -rank), coding
    return chosen


def _q(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0
