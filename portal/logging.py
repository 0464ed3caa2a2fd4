"""Logging helpers: no message-link token reaches a log line, whoever writes it."""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

# The id of the request being answered in this thread or task ('-' outside a request).
CURRENT_REQUEST_ID = contextvars.ContextVar("request_id", default="-")

_TOKEN_PATH = re.compile(r"/m/([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{12,}")


def without_link_tokens(text):
    """The text with every message-link token cut to its first four characters and an ellipsis: enough
    for support to match a link the person reads out, never enough to open it."""
    return _TOKEN_PATH.sub("/m/\\1…", text) if "/m/" in text else text


class RedactLinkTokens(logging.Filter):
    """Django logs the path of a refused request (403, 404, 410): a link token must not go with it."""

    def filter(self, record):
        message = record.getMessage()
        if "/m/" in message:
            record.msg, record.args = without_link_tokens(message), None
        return True


class AddRequestId(logging.Filter):
    """Every log record carries the id of the request it was written in."""

    def filter(self, record):
        record.request_id = CURRENT_REQUEST_ID.get()
        return True


_FIELDS = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object a line (time, level, logger, event, request id, and the line's own
    key=value fields: reason, reference, user...), for Loki, Elasticsearch or journald."""

    def format(self, record):
        message = record.getMessage()
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
        }
        fields = {key: value.strip('"') for key, value in _FIELDS.findall(message)}
        entry.update(fields)
        entry.setdefault("event", "")
        if not fields:
            entry["message"] = message
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
