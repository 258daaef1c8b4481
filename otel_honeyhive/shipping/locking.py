"""Exclusive, non-blocking locks on open files, with the platform's own primitive: `flock` on POSIX,
`msvcrt.locking` on Windows. The kernel releases either when the process dies, however it dies, which is what
tells a live spool segment from one left by a dead process (docs/delivery.md#many-processes-one-spool).

Why not a locking library: the spool needs only "try once, never wait", and one property the libraries do not
promise: a forked child lets go of its parent's lock by closing its copy of the descriptor, never by unlocking
it (`flock` would release the parent's lock too). The module imports everywhere; on a platform with neither
primitive, `try_lock` raises `LockingUnavailable` and the spool is not used.
"""

from __future__ import annotations

import errno
import os
import sys


class LockingUnavailable(OSError):
    """This platform has neither `fcntl` nor `msvcrt`: no spool (the exporter ships directly)."""


if sys.platform == "win32":
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Lock the file's first byte (a region past the end is allowed); False when another process holds it."""
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

else:
    try:
        import fcntl as _fcntl
    except ImportError:  # neither POSIX nor Windows (WASI, say): reported when a spool is asked for
        _fcntl = None  # type: ignore[assignment]

    def try_lock(fd: int) -> bool:
        """`flock(LOCK_EX | LOCK_NB)`; False when another open file description holds the lock."""
        if _fcntl is None:
            raise LockingUnavailable(errno.ENOSYS, "file locking is not available on this platform (no fcntl)")
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True


def available() -> bool:
    """Whether `try_lock` can work here (it still fails on a file system that refuses locks)."""
    return sys.platform == "win32" or _fcntl is not None


__all__ = ["LockingUnavailable", "available", "try_lock"]
