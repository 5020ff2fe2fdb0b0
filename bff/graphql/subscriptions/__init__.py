"""The Subscription root (none yet: `Subscription` is None until one is served)."""

from __future__ import annotations

from typing import Any

Subscription: Any = None
