"""Failpoints: named places in the executor where tests make a run die or pause on purpose.

SEGREGATOR_FAILPOINTS="after-placed@2=kill,after-intents@1=stop" kills the process (SIGKILL) the second time
it passes `after-placed`, and stops it (SIGSTOP, for a test to change things and SIGCONT it) the first time it
passes `after-intents`; "batch-start@*=sleep:0.2" waits 0.2 s every time (a slow job, for browser tests to act
while it runs); "analysis-batch@2=killonce:/tmp/m" kills the first process to get there while the marker
file /tmp/m does not exist yet (one analysis worker of a pool, not each). Unset, `hit()` costs one dictionary
lookup. The tool never sets it itself.
"""

from __future__ import annotations

import os
import signal

_SPEC: dict[str, tuple[int, str]] = {}
_COUNTS: dict[str, int] = {}


def _parse(text: str) -> dict[str, tuple[int, str]]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name_at, _, action = part.partition("=")
        name, _, at = name_at.partition("@")
        out[name] = (0 if at == "*" else int(at or 1), action or "kill")
    return out


_SPEC = _parse(os.environ.get("SEGREGATOR_FAILPOINTS", ""))


def hit(name: str) -> None:
    if not _SPEC or name not in _SPEC:
        return
    _COUNTS[name] = _COUNTS.get(name, 0) + 1
    at, action = _SPEC[name]
    if at and _COUNTS[name] != at:
        return
    if action.startswith("sleep:"):
        import time

        time.sleep(float(action.split(":", 1)[1]))
        return
    if action.startswith("killonce:"):
        try:
            os.close(os.open(action.split(":", 1)[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif action == "exit":
        os._exit(3)
