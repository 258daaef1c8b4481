"""A spool directory this process may not use, as a server or worker started as root meets it once it has dropped
its privileges (gunicorn `--user`, Celery `--uid`): the directories it made are root's, 0700.

Root ignores permission bits, so as root the code under test runs in a forked child (tests/support/forking.py)
that becomes `nobody`; as anyone else the child takes the permission bits away instead, which the parent gives
back afterwards (`given_back`) so pytest can clean up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

_IMPORTED_BEFORE_DROPPING = ("encodings.idna", "encodings.ascii", "encodings.latin_1")
"""The interpreter may live where `nobody` cannot read (a pyenv under /root): what the child would import later,
it imports before it drops its privileges."""


@contextmanager
def shared_directory(tmp_path: Path) -> Iterator[Path]:
    """A directory this user and `nobody` can both reach (pytest's own temporary directory is root's 0700)."""
    if not AS_ROOT:
        yield tmp_path
        return
    base = Path(tempfile.mkdtemp(prefix="otel-hh-privileges-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def hand_over(path: Path) -> None:
    """Make `path` (and what is in it) usable by the child once it has dropped its privileges."""
    if AS_ROOT:
        for place in [path, *path.rglob("*")]:
            os.chown(place, NOBODY, NOBODY, follow_symlinks=False)


def deny(path: Path) -> None:
    """Make `path` another user's, as the child will see it once it called `become_nobody`: as root, root's
    0700 (`hand_over` what the child may use); otherwise its permission bits go."""
    if AS_ROOT:
        for place in [path, *path.rglob("*")]:
            os.chown(place, 0, 0, follow_symlinks=False)
        path.chmod(0o700)
    else:
        path.chmod(0)


def lose_access(path: Path) -> None:
    """In the child: from now on `path` is not this process's to use. As root: become `nobody` (`path` being
    root's 0700, as the exporter made it); otherwise: take its permission bits away."""
    if AS_ROOT:
        become_nobody()
    else:
        path.chmod(0)


def become_nobody() -> None:
    """In the child, as root: drop to `nobody`, as a worker does after it started. Nothing as anyone else."""
    if AS_ROOT:
        for name in _IMPORTED_BEFORE_DROPPING:
            __import__(name)
        os.setgid(NOBODY)
        os.setuid(NOBODY)


@contextmanager
def given_back(*paths: Path) -> Iterator[None]:
    """Restore the owner's permission bits the child took away (not as root: there the child changed users)."""
    try:
        yield
    finally:
        if not AS_ROOT:
            for path in paths:
                if path.exists():
                    path.chmod(0o700)
