"""Logging helpers: no message-link token reaches a log line, whoever writes it."""

import logging
import re

_TOKEN_PATH = re.compile(r"/m/[A-Za-z0-9_-]{16,}")


class RedactLinkTokens(logging.Filter):
    """Django logs the path of a refused request (403, 404, 410): a link token must not go with it."""

    def filter(self, record):
        message = record.getMessage()
        if "/m/" in message:
            record.msg, record.args = _TOKEN_PATH.sub("/m/<token>", message), None
        return True
