"""Opening a source (a folder, or r2://BUCKET/PREFIX) and reading single objects for previews."""

from __future__ import annotations

from ..loading import is_image_name, load_image
from ..plan import MovePlan
from ..r2 import R2Config, R2Storage, parse_r2_url
from ..runs import R2_NOT_CONFIGURED, TRASH, storage_for_record
from ..settings import Settings
from ..storage import LocalStorage, Storage, normalise_prefix


def r2_config() -> R2Config | None:
    """R2 from the environment (.env), else the local demo bucket while its server runs; None otherwise."""
    config = R2Config.from_env()
    if config is not None:
        return config
    from ..demo import running_demo_config

    return running_demo_config()


def open_source(spec: str, r2_config: R2Config | None = None) -> tuple[Storage, str]:
    """A storage and prefix for a CLI/UI source: 'r2://BUCKET/PREFIX' (configuration from the environment
    unless given), or a local folder path (its own root, prefix '')."""
    if spec.startswith("r2://"):
        bucket, prefix = parse_r2_url(spec)
        config = r2_config or R2Config.from_env()
        if config is None:
            raise ValueError(R2_NOT_CONFIGURED)
        storage = R2Storage(config, bucket)
        storage.check_bucket()
        return storage, prefix
    return LocalStorage(spec), ""


def storage_for_plan(plan: MovePlan, r2_config: R2Config | None = None) -> Storage:
    """Reopen the storage a plan was made on. An R2 plan is refused on another endpoint than its own."""
    return storage_for_record(plan.storage, r2_config)


def storage_record(storage: Storage) -> dict[str, str]:
    return storage.record()


def thumbnail_jpeg(storage: Storage, key: str, size: int = 160) -> bytes | None:
    """A small JPEG of one object for previews; None when it cannot be read or decoded."""
    import io

    try:
        image = load_image(storage.read(key), size).image
    except (OSError, ValueError):
        return None
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def faces_in(storage: Storage, key: str) -> tuple:
    """Faces in one object's working image, as (x, y, w, h) fractions; () when there are none or it cannot
    be read."""
    from ..faces import detect_faces
    from ..loading import ImageLoadError

    try:
        return detect_faces(load_image(storage.read(key), Settings().loader.working_size).image)
    except (OSError, ImageLoadError):
        return ()


def gallery_listing(storage: Storage, folder: str) -> tuple[list[str], list[str]]:
    """(subfolders, image keys) directly in a folder, for browsing; the trash is not shown."""
    folder = normalise_prefix(folder)
    subfolders = [f for f in storage.list_folders(folder) if f != TRASH and not f.endswith("/" + TRASH)]
    images = [o.key for o in storage.list(folder, recursive=False) if is_image_name(o.key)]
    return subfolders, images
