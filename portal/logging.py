"""Logging helpers: no message-link token reaches a log line, whoever writes it."""

import logging
import re

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
