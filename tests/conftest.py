"""Shared fixtures: real photos from tests/data, placeholders rendered with real fonts, broken files made from
real photos, and an isolated session log for every test."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PHOTOS = DATA / "photos"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


SECRETS: set[str] = set()  # secret keys of the servers the tests start: they must appear nowhere

CHROMIUM = "/usr/bin/chromium"  # Debian's; browser tests drive it with Playwright
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret key appears in {where}"


@pytest.fixture(autouse=True)
def isolated_log(tmp_path, monkeypatch):
    """Every test writes its session log and journals in its own temp folder, never the repo's; afterwards
    they (and any plan files) are searched for the secret keys."""
    path = tmp_path / "session_log.json"
    monkeypatch.setenv("SEGREGATOR_LOG", str(path))
    monkeypatch.setenv("SEGREGATOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGREGATOR_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("SEGREGATOR_JOURNAL_DIR", raising=False)
    yield path
    for f in tmp_path.rglob("*"):
        if f.is_file() and (f.suffix in (".sqlite", ".lock", ".json") or f.name.startswith("runs.sqlite")
                            or "cache" in f.parts):
            assert_no_secret(f.read_bytes().decode(errors="replace"), str(f))


def plan_dict(path) -> dict:
    """A plan file (JSON Lines, streamed) as one dict: its header and the list of its items."""
    from dataclasses import asdict

    from segregator.plan import PlanFile, header_of

    plan = PlanFile(path)
    return {**header_of(plan.plan), "items": [asdict(i) for i in plan.items()]}


def photo_paths() -> list[Path]:
    return sorted(PHOTOS.glob("*.jpg"))


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if not path.exists():
        pytest.skip("fonts-dejavu-core is not installed (make test installs it)")
    return ImageFont.truetype(str(path), size)


def text_placeholder(text: str, size=(640, 480), bg=(255, 255, 255), fg=(140, 140, 140), bold=False) -> Image.Image:
    """A listing-site text placeholder drawn with DejaVu Sans."""
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)
    f = font(max(14, size[0] // 16), bold)
    w = d.textlength(text, font=f)
    d.text(((size[0] - w) / 2, size[1] / 2 - size[0] // 32), text, font=f, fill=fg)
    return im


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def photo(name: str = "chelsea") -> Image.Image:
    return Image.open(PHOTOS / f"{name}.jpg").convert("RGB")


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def bad_inputs() -> dict[str, bytes]:
    """Broken and odd files, each made from a real photo where it has pixels at all."""
    cat = photo("chelsea")
    good = jpeg_bytes(cat, quality=90)
    palette = cat.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    frames = [cat, ImageEnhance.Brightness(cat).enhance(0.5)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    sixteen = Image.fromarray((__import__("numpy").asarray(cat.convert("L"), dtype="uint16") * 257))
    return {
        "zero.jpg": b"",
        "truncated.jpg": good[: len(good) // 2],
        "page.jpg": b"<!DOCTYPE html><html><body>404 Not Found</body></html>",
        "bomb.png": bomb_png(),
        "one_pixel.png": png_bytes(cat.resize((1, 1))),
        "strip.png": png_bytes(cat.resize((20_000, 10))),
        "cmyk.jpg": jpeg_bytes(cat.convert("CMYK")),
        "sixteen_bit.png": png_bytes(sixteen),
        "palette_alpha.png": png_bytes(palette),
        "animated.gif": gif.getvalue(),
    }


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    """A folder holding copies of the real test photos."""
    folder = tmp_path / "photos"
    shutil.copytree(PHOTOS, folder)
    return folder


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """Photos, a real placeholder icon, a rendered text placeholder, a near copy and broken files, in subfolders."""
    folder = tmp_path / "mixed"
    (folder / "listing_7").mkdir(parents=True)
    for p in photo_paths()[:5]:
        shutil.copy2(p, folder / p.name)
    shutil.copy2(PHOTOS / "coffee.jpg", folder / "listing_7" / "kitchen.jpg")
    text_placeholder("No Image Available").save(folder / "listing_7" / "no_image.png")
    shutil.copy2(DATA / "placeholders" / "avatar-default.png", folder / "agent.png")
    (folder / "broken.jpg").write_bytes(bad_inputs()["truncated.jpg"])
    (folder / "notes.txt").write_text("not an image and not listed")
    return folder


# ------------------------------------------------------------------ the real S3 server (SeaweedFS)

@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """`weed mini` on 127.0.0.1 with free ports and a real key pair: signatures are checked."""
    import secrets

    from segregator.s3server import LocalS3Server

    server = LocalS3Server(tmp_path_factory.mktemp("s3"), "segregator-test", secrets.token_hex(16)).start()
    SECRETS.add(server.secret_key)
    yield server
    server.kill()  # its data is thrown away: no need to wait for a graceful stop


@pytest.fixture(scope="session")
def r2_config(s3_server):
    from segregator.r2 import R2Config

    return R2Config(s3_server.endpoint, s3_server.access_key, s3_server.secret_key)


_bucket_count = iter(range(10_000))


@pytest.fixture
def bucket(r2_config):
    """A new, empty bucket on the test server; its R2Storage."""
    from segregator.r2 import R2Storage

    name = f"test-{next(_bucket_count)}"
    r2_config.client().create_bucket(Bucket=name)
    return R2Storage(r2_config, name)


@pytest.fixture
def r2_env(r2_config, monkeypatch):
    """R2_* variables pointing at the test server, for code that reads the environment (the CLI)."""
    monkeypatch.setenv("R2_ENDPOINT", r2_config.endpoint)
    monkeypatch.setenv("R2_ACCESS_KEY", r2_config.access_key)
    monkeypatch.setenv("R2_SECRET_KEY", r2_config.secret_key)
    return r2_config


def upload_folder(storage, folder: Path, prefix: str = "") -> list[str]:
    """Put every file of a local folder into a bucket under prefix; returns the keys."""
    keys = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = prefix + path.relative_to(folder).as_posix()
            storage.write(key, path.read_bytes())
            keys.append(key)
    return keys
