"""The no-configuration default: a working copy of the sample images shipped in the repo."""

from __future__ import annotations

import json
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


# ------------------------------------------------------------------ the demo bucket

DEMO_BUCKET = "demo"
DEMO_PREFIX = "images/masterImgs/"


def demo_data_dir() -> Path:
    """SEGREGATOR_DEMO_DATA, else .data/demo-bucket in the repo (ignored by git)."""
    return Path(os.environ.get("SEGREGATOR_DEMO_DATA") or REPO_ROOT / ".data" / "demo-bucket")


def _demo_credentials(folder: Path) -> tuple[str, str]:
    """A key pair made once for this machine's demo server (so its signatures are really checked)."""
    import secrets

    path = folder / "credentials.json"
    if path.exists():
        data = json.loads(path.read_text())
        return data["access_key"], data["secret_key"]
    folder.mkdir(parents=True, exist_ok=True)
    data = {"access_key": "demo" + secrets.token_hex(4), "secret_key": secrets.token_hex(20)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data["access_key"], data["secret_key"]


def seed_demo_bucket(storage, reset: bool = False) -> None:
    """Put the sample images under images/masterImgs/ (after emptying the bucket, on reset)."""
    if reset:
        storage.delete_many([o.key for o in storage.list()])
    for src in sorted(SAMPLES.rglob("*")):
        if src.is_file() and src.name != "SOURCES.md":
            key = DEMO_PREFIX + src.relative_to(SAMPLES).as_posix()
            if not storage.exists(key):
                storage.write(key, src.read_bytes())


def running_demo_config():
    """The demo bucket's configuration while its server runs (started by the app), else None: jobs and the
    CLI reach the demo bucket the same way the app does, without credentials in any parameter."""
    from .locking import _alive
    from .r2 import R2Config

    folder = demo_data_dir()
    try:
        endpoint = json.loads((folder / "endpoint.json").read_text())
        key, secret = _demo_credentials(folder) if (folder / "credentials.json").exists() else (None, None)
    except (OSError, ValueError, KeyError):
        return None
    if not key or not _alive(int(endpoint.get("pid", 0))):
        return None
    return R2Config(endpoint["endpoint"], key, secret, bucket=DEMO_BUCKET, demo=True)


def start_demo_bucket():
    """Start the local S3 server as the demo bucket, seeded once with the samples; returns (server, config).
    Its data stays under .data/demo-bucket between runs."""
    from .r2 import R2Config, R2Storage
    from .s3server import LocalS3Server, ports_free

    folder = demo_data_dir()
    key, secret = _demo_credentials(folder)
    server = LocalS3Server(folder / "weed", key, secret)
    try:  # the same ports as last time, when free: plans and journals name the endpoint
        last = json.loads((folder / "endpoint.json").read_text()).get("ports", {})
        if last and ports_free(last.values()):
            server.ports = last
    except (OSError, ValueError):
        pass
    server.start()
    config = R2Config(server.endpoint, key, secret, bucket=DEMO_BUCKET, demo=True)
    (folder / "endpoint.json").write_text(json.dumps({"endpoint": server.endpoint, "pid": server.process.pid,
                                                      "ports": server.ports}))
    marker = folder / "seeded"
    if not marker.exists():
        client = config.client()
        try:
            client.create_bucket(Bucket=DEMO_BUCKET)
        except Exception as exc:  # already there
            if "BucketAlready" not in str(exc) and "BucketAlready" not in type(exc).__name__:
                raise
        seed_demo_bucket(R2Storage(config, DEMO_BUCKET))
        marker.write_text("ok")
    return server, config
