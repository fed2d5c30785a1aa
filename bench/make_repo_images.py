"""Regenerate the small real images kept in the repo (samples/ and tests/data/) from their packages.

    python -m bench.make_repo_images

Sources and licences are listed in samples/SOURCES.md and tests/data/SOURCES.md; keep those in step.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from bench.datasets import EDITS, icon_on_canvas, render_text_placeholder, size_box, skimage_data, unpacked

REPO = Path(__file__).resolve().parent.parent


def _photo(src: Path, size: int) -> Image.Image:
    im = Image.open(src)
    im.draft("RGB", (size, size))
    if im.mode in ("RGBA", "LA", "P"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, "white")
        bg.alpha_composite(rgba)
        im = bg
    return ImageOps.contain(im.convert("RGB"), (size, size), Image.Resampling.LANCZOS)


def _wall(x: Path, name: str) -> Path:
    files = sorted((x / "usr/share/wallpapers" / name / "contents").glob("images*/*.*"), key=lambda p: p.stat().st_size)
    return files[len(files) // 2]


def photos(x: Path) -> dict[str, Path]:
    sk = skimage_data()
    sklearn = x / "usr/lib/python3/dist-packages/sklearn/datasets/images"
    stamps = x / "usr/share/tuxpaint/stamps"
    return {
        "coffee": sk / "coffee.png", "chelsea": sk / "chelsea.png", "astronaut": sk / "astronaut.png",
        "rocket": sk / "rocket.jpg", "china": sklearn / "china.jpg", "flower": sklearn / "flower.jpg",
        "forest_path": _wall(x, "Path"), "beach": _wall(x, "Volna"), "lake_boats": _wall(x, "EveningGlow"),
        "autumn_painting": _wall(x, "Autumn"), "abstract_waves": _wall(x, "Cascade"),
        "strawberry": stamps / "food/fruit/strawberry.png", "fire_truck": stamps / "vehicles/emergency/firetruck.png",
    }


def build_samples(x: Path) -> None:
    out = REPO / "samples"
    (out / "listing_1042").mkdir(parents=True, exist_ok=True)
    srcs = photos(x)
    for name, src in srcs.items():
        if src.exists():
            sub = "listing_1042/" if name in ("china", "lake_boats", "strawberry") else ""
            _photo(src, 640).save(out / f"{sub}{name}.jpg", "JPEG", quality=85)
    cat = _photo(srcs["chelsea"], 640)
    EDITS["half"](cat).save(out / "listing_1042" / "chelsea_small.jpg", "JPEG", quality=80)
    EDITS["crop5"](cat).save(out / "chelsea_cropped.jpg", "JPEG", quality=85)
    ad = x / "usr/share/icons/Adwaita"
    render_text_placeholder("No Image Available").save(out / "no_image_available.jpg", "JPEG", quality=85)
    render_text_placeholder("Coming Soon", bg=(242, 242, 242), fg=(90, 90, 90), bold=True).save(out / "listing_1042" / "coming_soon.png")
    render_text_placeholder("No Floor Plan", border=True).save(out / "floor_plan_missing.png")
    icon_on_canvas(ad / "512x512/status/avatar-default.png").save(out / "agent_photo.jpg", "JPEG", quality=85)
    icon_on_canvas(ad / "48x48/legacy/camera-photo.png", bg=(255, 255, 255)).save(out / "listing_1042" / "photo_pending.png")
    size_box(420, 220).save(out / "banner_420x220.png")


def build_test_data(x: Path) -> None:
    out = REPO / "tests" / "data"
    for sub in ("photos", "placeholders", "negatives"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for name, src in photos(x).items():
        if src.exists() and name not in ("strawberry", "fire_truck"):
            _photo(src, 320).save(out / "photos" / f"{name}.jpg", "JPEG", quality=88)
    ad = x / "usr/share/icons/Adwaita"
    wp = x / "usr/share/wordpress/wp-includes/images/media/default.png"
    for name, src in {"avatar-default": ad / "256x256/status/avatar-default.png",
                      "image-missing": ad / "256x256/status/image-missing.png",
                      "camera-photo": ad / "48x48/legacy/camera-photo.png", "wordpress-default": wp}.items():
        if not src.exists():
            src = ad / "512x512" / src.parent.name / src.name
        Image.open(src).save(out / "placeholders" / f"{name}.png")
    stamps = x / "usr/share/tuxpaint/stamps"
    for name, src in {"garlic": stamps / "food/vegetables/garlic.png", "teapot": stamps / "household/dishes/teapot.png",
                      "sedan": stamps / "vehicles/auto/sedan.png", "mug": stamps / "household/dishes/mug.png",
                      "spade": stamps / "household/tools/spade.png", "syringe": stamps / "medical/syringe.png"}.items():
        if src.exists():
            icon_on_canvas(src, bg=(255, 255, 255), scale=0.8).save(out / "negatives" / f"product_{name}.jpg", "JPEG", quality=90)
    _photo(skimage_data() / "text.png", 400).save(out / "negatives" / "scanned_text.png")


if __name__ == "__main__":
    x = unpacked()
    build_samples(x)
    build_test_data(x)
    print("wrote samples/ and tests/data/")
