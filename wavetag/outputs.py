"""Outputs written beside the target and moved in only when complete: a failed command leaves
the earlier output as it was.

    with replaced_dir(Path("runs/x/report-test")) as stage:
        write_everything_into(stage)      # a fresh folder beside the target
    # only now do the new files replace those of the same name; on an exception nothing moved
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replaced_dir(target: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; when the block ends without an exception,
    each file and folder in it replaces the one of the same name in ``target`` (other entries
    of ``target`` are left alone: it may be a folder the user keeps other things in). On an
    exception the staging folder is removed and ``target`` is left exactly as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / f".{target.name}.new-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    target.mkdir(exist_ok=True)
    for entry in sorted(stage.iterdir()):
        dest = target / entry.name
        if dest.is_dir() and not dest.is_symlink():  # a folder cannot be renamed over a non-empty one
            old = target / f".{entry.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
            os.replace(entry, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(entry, dest)
    stage.rmdir()


def rebase_paths(obj: Any, old: Path, new: Path) -> Any:
    """``obj`` (a path, or a dataclass / dict / list holding paths) with every path under ``old``
    moved under ``new``: what a result that named the staging folder should say afterwards."""
    if isinstance(obj, Path):
        try:
            return new / obj.relative_to(old)
        except ValueError:
            return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(
            obj, **{f.name: rebase_paths(getattr(obj, f.name), old, new) for f in dataclasses.fields(obj) if f.init}
        )
    if isinstance(obj, dict):
        return {k: rebase_paths(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rebase_paths(v, old, new) for v in obj]
    return obj
