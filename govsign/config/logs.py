"""The process's logging: JSON lines for a log collector, or text for a person, with the request id.

``GOVSIGN_LOG_FORMAT=json`` writes one object per line (``time``, ``level``, ``logger``, ``message``,
``request_id``, and for access lines ``method``, ``route``, ``status``, ``duration``); ``text`` writes the
same facts as a readable line. :func:`uvicorn_log_config` hands the choice to uvicorn, which applies it in
its own process and in every worker before anything else is imported there, so this module stays light.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from ca.correlation import REQUEST_ID

__all__ = ["ACCESS_FIELDS", "JsonLines", "TextLines", "uvicorn_log_config"]

ACCESS_FIELDS = ("method", "route", "status", "duration", "client")


def _facts(record: logging.LogRecord) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
        "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
    }
    facts.update({name: getattr(record, name) for name in ACCESS_FIELDS if hasattr(record, name)})
    return facts


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line (a traceback goes in ``exception``)."""

    def format(self, record: logging.LogRecord) -> str:
        facts = _facts(record)
        if record.exc_info:
            facts["exception"] = self.formatException(record.exc_info)
        return json.dumps(facts, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    """``time level logger [request id] message key=value...``: the JSON facts for a person to read."""

    def format(self, record: logging.LogRecord) -> str:
        facts = _facts(record)
        extra = " ".join(f"{name}={facts[name]}" for name in ACCESS_FIELDS if name in facts)
        line = f"{facts['time']} {facts['level']} {facts['logger']}"
        if facts["request_id"]:
            line += f" [{facts['request_id']}]"
        line += f" {facts['message']}" + (f" {extra}" if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def uvicorn_log_config(log_format: str, *, access_log: bool) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn's ``log_config``: every logger (uvicorn's own,
    govsign's, the libraries') through one formatter on stderr; ``govsign.access`` only when asked."""
    formatter = JsonLines if log_format == "json" else TextLines
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"govsign": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "govsign", "stream": "ext://sys.stderr"}
        },
        # Libraries' INFO chatter (pikepdf's logger bridge, for one) stays out; their warnings come through.
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            "govsign": {"level": "INFO"},
            "govsign.access": {"level": "INFO" if access_log else "WARNING"},
        },
    }
