"""Paths given to the command line, a `--config` file or `HH_SPOOL_DIR`: a leading `~` is the home directory (no
shell expands `--db=~/x`, a config file's values, an env file's or a systemd unit's), and what `serve` creates for a
spool is private."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import run_server


@pytest.mark.slow
def test_a_tilde_in_a_path_flag_or_a_config_file_is_the_home_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "serve.toml"
    config.write_text('spool-dir = "~/spool"\n')
    with run_server(tmp_path, "--db=~/events.db", "--config", str(config), env={"HOME": str(home)}):
        pass
    assert (home / "events.db").is_file() and (home / "spool" / "held").is_dir()
    assert not (tmp_path / "~").exists(), "no directory named ~ in the working directory"


@pytest.mark.slow
def test_the_spool_directory_serve_creates_is_private_like_everything_in_it(tmp_path: Path) -> None:
    spool = tmp_path / "new" / "spool"
    with run_server(tmp_path, "--spool-dir", str(spool)):
        pass
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in [spool, *spool.iterdir()]} == {
        "spool": "0o700", "held": "0o700"}
