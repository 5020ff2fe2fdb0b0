"""JSON structured logging for every process: one JSON object per line on stdout.

Our own lines (structlog) are rendered by structlog itself and written straight to stdout:
the access line of every request is on the hot path, and going through the standard
library's loggers, records and formatter cost it about three times as much. Lines of
libraries (stdlib `logging`) go through a handler that renders them the same way.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from structlog.types import EventDict, Processor


def _dumps(event: Any, **_kw: Any) -> str:
    return orjson.dumps(event, default=str).decode()


@dataclass
class _Setup:
    """What `configure_logging` set last: loggers made before keep following it."""

    service: str = "tern"
    level: int = logging.INFO
    renderer: Processor = field(
        default_factory=lambda: structlog.processors.JSONRenderer(serializer=_dumps)
    )
    configured: bool = False


_setup = _Setup()


class _Stdout:
    """Whatever sys.stdout is when a line is written (tests capture it per test)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _below_level(_logger: object, method: str, event_dict: EventDict) -> EventDict:
    if _LEVELS.get(method, logging.INFO) < _setup.level:
        raise structlog.DropEvent
    return event_dict


def _name_logger(_logger: object, _name: str, event_dict: EventDict) -> EventDict:
    # `logger` cannot be an initial value of structlog.get_logger; it is bound under this.
    name = event_dict.pop(_NAME_KEY, None)
    if name is not None:
        event_dict["logger"] = name
    return event_dict


def _add_service(_logger: object, _name: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", _setup.service)
    return event_dict


def _render(logger: object, name: str, event_dict: EventDict) -> Any:
    return _setup.renderer(logger, name, event_dict)


_NAME_KEY = "logger_name"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
    _add_service,
]


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Every log line (ours and libraries') to stdout as one JSON object with the request id."""
    numeric = logging.getLevelName(level.upper())
    _setup.service = service
    _setup.level = numeric if isinstance(numeric, int) else logging.INFO
    _setup.renderer = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    if not _setup.configured:
        structlog.configure(
            processors=[_below_level, _name_logger, *_SHARED, _render],
            logger_factory=structlog.WriteLoggerFactory(file=_Stdout()),  # type: ignore[arg-type]
            cache_logger_on_first_use=True,
        )
        _setup.configured = True
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_SHARED],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_setup.level)
    # Access lines come from our own middleware, with route templates and request ids.
    logging.getLogger("hypercorn.access").disabled = True
    # One line per outbound call is noise; failures are logged by the service client.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    """A structured logger named `name`; the request id and trace id are added automatically."""
    return structlog.get_logger(**{_NAME_KEY: name})
