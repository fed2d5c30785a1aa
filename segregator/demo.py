"""The no-configuration default: a working copy of the sample images shipped in the repo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "samples"


def demo_folder() -> Path:
    """SEGREGATOR_DEMO_DIR, else demo_workspace/ beside the repo's samples (ignored by git)."""
    return Path(os.environ.get("SEGREGATOR_DEMO_DIR") or REPO_ROOT / "demo_workspace")


def ensure_demo_folder(reset: bool = False) -> Path:
    """Create the demo folder from samples/ when it is missing or empty (or on reset); returns it.
    Sorting moves files inside this copy, never in samples/."""
    folder = demo_folder()
    if reset and folder.exists():
        shutil.rmtree(folder)
    if not folder.exists() or not any(folder.iterdir()):
        folder.mkdir(parents=True, exist_ok=True)
        for src in sorted(SAMPLES.rglob("*")):
            if src.is_file() and src.name != "SOURCES.md":
                dst = folder / src.relative_to(SAMPLES)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    return folder
