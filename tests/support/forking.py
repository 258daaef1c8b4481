"""Running test code in a real forked child: what it returns comes back to the test as JSON, and a child that does
not finish in time (a deadlock after fork) is killed and fails the test, instead of hanging the suite.

The child leaves by `os._exit`, as a forked worker does: no atexit handler, no pytest teardown runs there.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any


def in_child(work: Callable[[], dict[str, Any]], timeout: float = 10.0) -> dict[str, Any]:
    """Fork; run `work` in the child and return what it returned. A child that raised fails the test with its
    traceback; one still running after `timeout` seconds is killed and fails it too."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read)
            try:
                result: dict[str, Any] = {"result": work()}
            except BaseException:
                result = {"error": traceback.format_exc()}
            os.write(write, json.dumps(result, default=repr).encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read], [], [], max(remaining, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"the forked child did not finish within {timeout:g}s (a deadlock after fork?)")
            chunk = os.read(read, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    answer: dict[str, Any] = json.loads(b"".join(chunks) or b'{"error": "the child wrote nothing"}')
    if "error" in answer:
        raise AssertionError(f"the forked child failed:\n{answer['error']}")
    result = answer["result"]
    assert isinstance(result, dict)
    return result
