"""Answers of predict by (exact model version, rows): in process first, then Redis if configured.

The key holds the resolved version, never the alias, so moving an alias can never serve the old
version's answers; versions are immutable, so an entry never goes stale.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence

import cachetools
import orjson
from pydantic import TypeAdapter

from proto.inference import FeatureValue, Prediction
from services.kit.cache import Cache
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)
_PREDICTIONS = TypeAdapter(list[Prediction])


def prediction_key(
    model_id: uuid.UUID, version: int, rows: Sequence[Mapping[str, FeatureValue]]
) -> str:
    """A digest of the exact version and the rows (key order inside a row does not matter)."""
    payload = orjson.dumps([str(model_id), version, list(rows)], option=orjson.OPT_SORT_KEYS)
    return f"pred:{model_id}:{version}:{hashlib.sha256(payload).hexdigest()}"


class PredictionCache:
    """L1: a TTL'd LRU in this process; L2: the shared kit cache (Redis) when one is given."""

    def __init__(
        self, entries: int, ttl_s: float, max_value_bytes: int, shared: Cache | None = None
    ) -> None:
        self._local: cachetools.TTLCache[str, list[Prediction]] = cachetools.TTLCache(
            maxsize=entries, ttl=ttl_s
        )
        self._ttl_s = ttl_s
        self._max_value_bytes = max_value_bytes
        self._shared = shared
        self.hits = 0
        self.misses = 0

    async def get(self, key: str) -> list[Prediction] | None:
        """The cached answer, or None."""
        found = self._local.get(key)
        if found is None and self._shared is not None:
            found = await self._get_shared(key)
            if found is not None:
                self._local[key] = found
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    async def put(self, key: str, predictions: list[Prediction]) -> None:
        """Keep an answer (unless it is larger than the per-entry limit)."""
        encoded = _PREDICTIONS.dump_json(predictions)
        if len(encoded) > self._max_value_bytes:
            return
        self._local[key] = predictions
        if self._shared is not None:
            try:
                await self._shared.set(key, encoded, self._ttl_s)
            except Exception as exc:  # the cache is an optimisation: a Redis outage is no error
                _log.warning("prediction_cache_unavailable", error=type(exc).__name__)

    async def _get_shared(self, key: str) -> list[Prediction] | None:
        assert self._shared is not None
        try:
            raw = await self._shared.get(key)
        except Exception as exc:  # as in put: answer without the cache
            _log.warning("prediction_cache_unavailable", error=type(exc).__name__)
            return None
        return None if raw is None else _PREDICTIONS.validate_json(raw)

    def clear(self) -> None:
        self._local.clear()
