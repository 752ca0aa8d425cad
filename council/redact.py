"""URLs as the app shows and stores them: without the user name and password they may carry.

`OLLAMA_HOST=http://admin:secret@gpu-box:11434` is how a server behind basic auth is reached;
the status page, worker errors and job messages name the host, never the secret in it.
"""

from __future__ import annotations

import re

# scheme://user[:password]@ anywhere in a text; the host after the @ stays
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/?#@\s]+@", re.IGNORECASE)
HIDDEN = "***"


def redact_credentials(text: str) -> str:
    """`text` with the user-info part of every URL in it replaced by ***."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{HIDDEN}@", text)
