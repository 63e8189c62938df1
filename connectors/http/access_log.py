"""No credential in the access log: a query string that carries one is dropped from the line.

gpuhours reads tokens only from the ``Authorization`` header, which uvicorn never logs; a
client may still put one in the URL (``?token=``, ``?access_token=``). uvicorn logs the path
with its query string as the third argument of each ``uvicorn.access`` record; this filter
cuts the query string off when any of its parameter names looks like a credential.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

ACCESS_LOGGER = "uvicorn.access"
#: Parameter names (case-insensitive) whose value is a secret.
CREDENTIAL = re.compile(
    r"(token|access_token|api_key|apikey|key|secret|password|passwd|auth|authorization|"
    r"session|jwt|bearer|signature|sig|"
    # OpenID Connect's callback (an authorization code, its state) and logout hint
    r"code|state|nonce|id_token_hint)$",
    re.IGNORECASE,
)
_TOKEN_VALUE = re.compile(r"gph_[A-Za-z0-9_-]+")


def redact_target(target: str) -> str:
    """``target`` without its query string if that carries a credential."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    if any(CREDENTIAL.search(name) for name in names) or _TOKEN_VALUE.search(query):
        return path
    return target


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactCredentials) for f in logger.filters):
        logger.addFilter(RedactCredentials())
