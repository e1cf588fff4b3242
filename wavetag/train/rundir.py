"""The run directory's life: nothing a user already has is lost to a failed or mistyped start.

`train` checks its whole configuration (model, front end, pack, optimizer, augmentations) before
it calls `RunDir.start`; only then is anything in the run directory touched:

- a new or empty directory is simply used;
- a directory whose earlier start stopped before its first checkpoint (``config.yaml`` but no
  ``last/``, ``last.old/`` or ``best/``) is started again in place: there is nothing to lose;
- with ``overwrite=True``, the old run is moved aside to ``.<name>.previous-<pid>/`` beside it.
  When the new run has written its first checkpoint, `RunDir.committed` deletes that backup; if
  the new run fails (or is interrupted) before that, `RunDir.failed` puts the old run back as it
  was, byte for byte.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wavetag.errors import ConfigError

CHECKPOINT_DIRS = ("last", "last.old", "best")
# What an interrupted start leaves behind (and what a restart in place clears).
LEFTOVERS = ("config.yaml", "history.csv", "tb", "last.tmp", "best.tmp", "best.old")


def has_checkpoint(run_dir: Path) -> bool:
    """True when ``run_dir`` holds a model or a checkpoint (``last/``, ``last.old/`` or ``best/``)."""
    return any((run_dir / name).is_dir() for name in CHECKPOINT_DIRS)


def restartable(run_dir: Path) -> bool:
    """A run directory whose start stopped before its first checkpoint: only leftovers in it."""
    return (
        (run_dir / "config.yaml").is_file()
        and not has_checkpoint(run_dir)
        and all(p.name in LEFTOVERS for p in run_dir.iterdir())
    )


class RunDir:
    """Prepares ``run_dir`` for a new run (`start`), and keeps the previous run safe until the
    new one has a checkpoint (`committed`) or puts it back (`failed`)."""

    def __init__(self, run_dir: Path, *, overwrite: bool, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.overwrite = overwrite
        self.enabled = enabled
        self.backup: Path | None = None

    def check(self) -> None:
        """Refuse a directory that holds a run (or anything else) unless ``overwrite``; touches nothing."""
        d = self.run_dir
        if not self.enabled or self.overwrite or not d.exists():
            return
        if d.is_file():
            raise ConfigError(f"{d}: is a file; give --out a directory for the run")
        if any(d.iterdir()) and not restartable(d):
            raise ConfigError(
                f"{d}: the run directory exists and is not empty; use --resume to continue it, "
                f"--overwrite to start again in it (the old run is kept until the new one's first checkpoint), "
                f"or another --out"
            )

    def start(self) -> None:
        """Make the directory ready: clear an interrupted start's leftovers, or move an old run aside."""
        if not self.enabled:
            return
        d = self.run_dir
        if d.is_dir() and any(d.iterdir()):
            if restartable(d):
                for name in LEFTOVERS:
                    target = d / name
                    shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
            elif self.overwrite:
                self.backup = d.parent / f".{d.name}.previous-{os.getpid()}"
                shutil.rmtree(self.backup, ignore_errors=True)
                os.replace(d, self.backup)
        d.mkdir(parents=True, exist_ok=True)

    def stale_backups(self) -> list[Path]:
        """Old runs an earlier ``--overwrite`` kept aside and could not put back (it was killed)."""
        d = self.run_dir
        return sorted(p for p in d.parent.glob(f".{d.name}.previous-*") if p != self.backup and p.is_dir())

    def committed(self) -> None:
        """The new run has a checkpoint: the previous run is no longer needed."""
        if self.backup is not None:
            shutil.rmtree(self.backup, ignore_errors=True)
            self.backup = None

    def failed(self) -> bool:
        """The new run failed before its first checkpoint: put the previous run back. Returns
        True when a previous run was restored."""
        if self.backup is None:
            return False
        shutil.rmtree(self.run_dir, ignore_errors=True)
        os.replace(self.backup, self.run_dir)
        self.backup = None
        return True
