"""Structured logs: one line per event, with the job it belongs to.

Inside a job's work (``bind(...)`` in the runner) every log line, from our
code or a library's, carries the job's fields (``job=... project=...``). Two
formats, one line each, tracebacks folded in: ``logfmt`` (key=value, for
people and grep) and ``json`` (for log shippers), picked by ``LOG_FORMAT``.
"""

import contextlib
import contextvars
import json
import logging
import time

_fields: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "job_log_fields", default=None
)


@contextlib.contextmanager
def bind(**fields):
    """Add ``fields`` to every log line written inside the block."""
    token = _fields.set({**(_fields.get() or {}), **{k: str(v) for k, v in fields.items()}})
    try:
        yield
    finally:
        _fields.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record):
        record.context = _fields.get() or {}
        return True


def _event(record: logging.LogRecord, formatter: logging.Formatter) -> dict:
    event = {
        "at": formatter.formatTime(record),
        "level": record.levelname,
        "logger": record.name,
        **getattr(record, "context", {}),
        "msg": record.getMessage(),
    }
    if record.exc_info:
        event["exc"] = formatter.formatException(record.exc_info)
    return event


class _UtcFormatter(logging.Formatter):
    # ISO 8601 in UTC, e.g. 2026-11-25T12:57:42.660Z: sortable, no quoting needed.
    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class LogfmtFormatter(_UtcFormatter):
    def format(self, record):
        return " ".join(f"{key}={_quote(value)}" for key, value in _event(record, self).items())


class JsonFormatter(_UtcFormatter):
    def format(self, record):
        return json.dumps(_event(record, self), default=str)


def _quote(value) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\\'):
        return text
    return json.dumps(text)  # quoted, with newlines escaped: the event stays one line
