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
    """Django logs the path of a refused request (403, 404, 410): a link token must not go with it. The
    token is cut in the values; the line's template (the code's own text) is left as it is."""

    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(without_link_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: without_link_tokens(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        if isinstance(record.msg, str) and "/m/" in record.msg:
            record.msg = without_link_tokens(record.msg)
        return True


class AddRequestId(logging.Filter):
    """Every log record carries the id of the request it was written in."""

    def filter(self, record):
        record.request_id = CURRENT_REQUEST_ID.get()
        return True


# `key=value` in a line's template (the code's own text): the key, and the value as written there.
_FIELDS = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
# A %-placeholder of a template, in order (a literal %% is none).
_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]")
# What the formatter sets itself: no field of a line can stand in for them.
_RESERVED = {"time", "level", "logger", "request_id", "event", "message", "error"}


def template_fields(record):
    """The fields of a record: keys only from its template (`log.info("event=x reason=%s", reason)`),
    values from its arguments; and `extra={"fields": {...}}`. Text inside an argument (a URL, an address
    someone typed) is a value, never another field: it cannot forge `event`, `level` or `request_id`."""
    template = record.msg if isinstance(record.msg, str) else ""
    args = record.args if isinstance(record.args, tuple | dict) else ()
    positions = []  # the start of each placeholder and the value it stands for
    index = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.group(0) == "%%":
            continue
        if match.group(1) and isinstance(args, dict):
            value = args.get(match.group(1))
        elif isinstance(args, tuple) and index < len(args):
            value, index = args[index], index + 1
        else:
            value = None
        positions.append((match.start(), match.end(), value))
    fields = {}
    for match in _FIELDS.finditer(template):
        key, written = match.group(1), match.group(2)
        start, end = match.span(2)
        inside = [p for p in positions if start <= p[0] < end]
        if inside and written.strip('"') == template[inside[0][0] : inside[0][1]] and len(inside) == 1:
            value = inside[0][2]
            fields[key] = value if isinstance(value, int | float | bool) or value is None else str(value)
        elif inside:  # a value written around a placeholder (`event=login_%s`): filled in, as text
            text, last = "", start
            for p_start, p_end, value in inside:
                text += template[last:p_start] + str(value)
                last = p_end
            fields[key] = (text + template[last:end]).strip('"')
        else:
            fields[key] = written.strip('"')
    extra = getattr(record, "fields", None)
    if isinstance(extra, dict):
        fields.update(extra)
    return fields


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object a line (time, level, logger, event, request id, and the line's
    own fields: reason, reference, user...), for Loki, Elasticsearch or journald."""

    def format(self, record):
        fields = template_fields(record)
        entry = {key: value for key, value in fields.items() if key not in _RESERVED}
        entry.update(
            time=datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            level=record.levelname.lower(),
            logger=record.name,
            request_id=getattr(record, "request_id", "-"),
            event=str(fields.get("event", "")),
        )
        if not fields:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
