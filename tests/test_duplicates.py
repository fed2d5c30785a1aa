"""Duplicates across a collection: the CLI contract on real photos and their copies, keep rules, reference
folders, tiers, broken files, the keeper rule against chains, and plans applied and undone on a folder and on
the S3 test server."""

import json
import shutil

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from segregator import duplicates as dup
from tests.conftest import PHOTOS, plan_dict
from tests.test_cli import run

PHOTO_NAMES = ("chelsea.jpg", "coffee.jpg", "beach.jpg", "rocket.jpg", "china.jpg", "flower.jpg")


def _copies(folder, name: str) -> dict[str, str]:
    """A photo and its copies in folder/; returns file -> its original's name."""
    im = Image.open(PHOTOS / name).convert("RGB")
    stem = name[:-4]
    made = {f"{stem}.jpg": name}
    shutil.copy(PHOTOS / name, folder / f"{stem}.jpg")
    shutil.copy(PHOTOS / name, folder / f"{stem}_same_bytes.jpg")
    edits = {
        "half": lambda i: i.resize((i.width // 2, i.height // 2), Image.Resampling.LANCZOS),
        "bright": lambda i: ImageEnhance.Brightness(i).enhance(1.2),
        "contrast": lambda i: ImageEnhance.Contrast(i).enhance(0.8),
        "crop": lambda i: i.crop((i.width // 20, i.height // 20, i.width - i.width // 20, i.height - i.height // 20)),
        "mirror": ImageOps.mirror,
    }
    for edit, f in edits.items():
        f(im).save(folder / f"{stem}_{edit}.jpg", quality=90)
    im.save(folder / f"{stem}_q35.jpg", quality=35)
    made.update({f"{stem}_{e}.jpg": name for e in ["same_bytes", "q35", *edits]})
    return made


def _collection(tmp_path, names=PHOTO_NAMES):
    folder = tmp_path / "photos"
    folder.mkdir()
    owner = {}
    for name in names:
        owner.update(_copies(folder, name))
    return folder, owner


def _rows(p) -> dict[str, dict]:
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert all(set(r) == {"key", "group", "keep", "tier", "error"} for r in rows)
    return {r["key"]: r for r in rows}


def test_duplicates_cli_groups_each_photo_with_its_copies(tmp_path):
    """Near tier (the default): every photo and its copies (same bytes, half size, q35, brighter, less contrast,
    5 % crop, mirrored) form one group; different photos never share one; one keeper a group; the keeper is the
    largest resolution, then the largest file; same input, same output."""
    folder, owner = _collection(tmp_path)
    (folder / "broken.jpg").write_bytes((PHOTOS / "beach.jpg").read_bytes()[:2000])
    (folder / "empty.png").write_bytes(b"")
    p = run("duplicates", folder, "--json", "--no-ocr", "--plan-out", tmp_path / "plan.jsonl")
    rows = _rows(p)
    assert rows["broken.jpg"]["error"] and rows["broken.jpg"]["group"] is None and rows["broken.jpg"]["keep"] is True
    assert rows["empty.png"]["error"]
    groups: dict[int, set[str]] = {}
    for key, r in rows.items():
        if key in owner:
            assert r["group"] is not None, key
            groups.setdefault(r["group"], set()).add(key)
    assert sorted(map(sorted, groups.values())) == sorted(
        sorted(k for k in owner if owner[k] == name) for name in PHOTO_NAMES)
    for members in groups.values():
        keepers = [k for k in members if rows[k]["keep"]]
        assert len(keepers) == 1 and rows[keepers[0]]["tier"] is None
        assert not keepers[0].endswith(("_half.jpg", "_crop.jpg"))  # never the smaller copy
        assert all(rows[k]["tier"] in ("exact", "near") for k in members - set(keepers))
    # the byte copy of the keeper, when the keeper is the original, is joined at the exact tier
    for name in PHOTO_NAMES:
        stem = name[:-4]
        if rows[f"{stem}.jpg"]["keep"]:
            assert rows[f"{stem}_same_bytes.jpg"]["tier"] == "exact"
    plan = plan_dict(tmp_path / "plan.jsonl")
    assert plan["kind"] == "duplicates" and plan["extra"]["group_count"] == len(PHOTO_NAMES)
    moves = [i for i in plan["items"] if i["action"] == "move"]
    assert len(moves) == len(owner) - len(PHOTO_NAMES)
    for item in moves:
        keeper = item["scores"]["keeper"]
        assert item["reason"].startswith(f"{item['scores']['tier']} duplicate of {keeper}")
        assert item["destination"].startswith(f"duplicates/{item['scores']['group']:06d}_{keeper[:-4]}/")
    again = run("duplicates", folder, "--json", "--no-ocr")
    assert again.stdout == p.stdout  # deterministic


def test_duplicates_tiers_keep_rules_and_reference_folders(tmp_path):
    folder, owner = _collection(tmp_path, PHOTO_NAMES[:3])
    (folder / "masters").mkdir()
    shutil.copy(folder / "coffee_half.jpg", folder / "masters" / "coffee_master.jpg")
    shutil.copy(folder / "beach_q35.jpg", folder / "masters" / "beach.jpg")
    exact = _rows(run("duplicates", folder, "--json", "--no-ocr", "--tier", "exact"))
    in_groups = {k for k, r in exact.items() if r["group"] is not None}
    assert in_groups == {"chelsea.jpg", "chelsea_same_bytes.jpg", "coffee.jpg", "coffee_same_bytes.jpg",
                         "coffee_half.jpg", "masters/coffee_master.jpg", "beach.jpg", "beach_same_bytes.jpg",
                         "beach_q35.jpg", "masters/beach.jpg"}
    assert {r["tier"] for r in exact.values() if r["group"] is not None and not r["keep"]} == {"exact"}

    by_path = _rows(run("duplicates", folder, "--json", "--no-ocr", "--keep", "path"))
    keeper = next(k for k, r in by_path.items() if r["keep"] and r["group"] == by_path["chelsea_half.jpg"]["group"])
    assert keeper == "chelsea.jpg"  # the shortest path
    small = _rows(run("duplicates", folder, "--json", "--no-ocr", "--keep", "format:png,size"))
    group = small["chelsea_half.jpg"]["group"]
    assert small["chelsea_bright.jpg"]["keep"] or small["chelsea.jpg"]["keep"]  # no png: the largest file
    assert sum(1 for r in small.values() if r["group"] == group and r["keep"]) == 1

    refs = _rows(run("duplicates", folder, "--json", "--no-ocr", "--reference-folder", "masters"))
    # the reference copy is the keeper of its group although it is the smaller one; all its copies are joined
    assert refs["masters/coffee_master.jpg"]["keep"] is True and refs["masters/coffee_master.jpg"]["tier"] is None
    assert refs["coffee.jpg"]["keep"] is False and refs["coffee.jpg"]["group"] == refs["masters/coffee_master.jpg"]["group"]
    assert refs["masters/beach.jpg"]["keep"] is True
    bad = run("duplicates", folder, "--json", "--keep", "biggest")
    assert bad.returncode != 0 and "unknown keep rule 'biggest'" in bad.stderr and "Traceback" not in bad.stderr


def test_a_member_joins_only_when_it_matches_the_keeper(tmp_path):
    """A ~ B and B ~ C, but C unlike A: C is not pulled into A's group (real photos blended)."""
    a = np.asarray(Image.open(PHOTOS / "chelsea.jpg").convert("L").resize((48, 48)), dtype=np.float32)
    u = np.asarray(Image.open(PHOTOS / "rocket.jpg").convert("L").resize((48, 48)), dtype=np.float32)
    thumbs = np.stack([a, 0.8 * a + 0.2 * u, 0.6 * a + 0.4 * u]).astype(np.uint8)
    n = 3
    coll = dup.Collection(["a.jpg", "b.jpg", "c.jpg"], np.full(n, 1000), np.full(n, 480 * 640), np.zeros(n), ["JPEG"] * n,
                          np.zeros((n, 32), np.uint8), np.full(n, 12345, np.uint64), np.full(n, 999, np.uint64),
                          np.full(n, 777, np.uint64), thumbs)
    pix = dup.pixel_pairs(thumbs[[0, 1, 0]], thumbs[[1, 2, 2]])
    assert pix[0] >= 0.93 and pix[1] >= 0.93 and pix[2] < 0.93, pix  # the chain the test is about
    rows = dup.find_groups(coll, dup.DuplicateSettings())
    assert [(r.group, r.keep, r.tier) for r in rows] == [(1, True, None), (1, False, "near"), (None, True, None)]


def test_duplicates_plan_applied_and_undone_on_a_folder(tmp_path):
    folder, owner = _collection(tmp_path, PHOTO_NAMES[:2])
    before = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    plan = tmp_path / "plan.jsonl"
    assert run("duplicates", folder, "--json", "--no-ocr", "--plan-out", plan, "--quiet").returncode == 0
    p = run("apply", plan, "--yes", "--quiet")
    assert p.returncode == 0, p.stderr
    left = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert len(left) == 2  # one keeper a photo
    moved = sorted(p.relative_to(folder).as_posix() for p in (folder / "duplicates").rglob("*") if p.is_file())
    assert len(moved) == len(owner) - 2 and all(m.count("/") == 2 for m in moved)
    events = json.loads((tmp_path / "session_log.json").read_text())
    assert events[-1]["event_type"] == "local_duplicates"
    assert events[-1]["extra"]["group_count"] == 2 and events[-1]["extra"]["image_count"] == len(owner)
    assert run("undo", "--yes", "--quiet").returncode == 0
    after = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before and not (folder / "duplicates").exists()


def test_duplicates_to_the_trash_on_a_bucket_then_undo(bucket, r2_env, tmp_path):
    folder, owner = _collection(tmp_path, PHOTO_NAMES[:2])
    for p in sorted(folder.iterdir()):
        bucket.write(f"listings/{p.name}", p.read_bytes())
    bucket.write("listings/notes.txt", b"not an image")
    before = {o.key: bucket.read(o.key) for o in bucket.list("")}
    src = f"r2://{bucket.bucket}/listings/"
    plan = tmp_path / "plan.jsonl"
    rows = _rows(run("duplicates", src, "--json", "--no-ocr", "--to", "trash", "--plan-out", plan, "--quiet"))
    assert "notes.txt" not in rows and len([r for r in rows.values() if r["keep"]]) == 2
    assert run("apply", plan, "--yes", "--quiet").returncode == 0
    keys = {o.key for o in bucket.list("")}
    trashed = sorted(k.split("/", 2)[2] for k in keys if k.startswith("_trash/"))
    assert trashed == sorted(f"listings/{k}" for k, r in rows.items() if not r["keep"])
    assert {k for k in keys if k.startswith("listings/")} == {f"listings/{k}" for k, r in rows.items() if r["keep"]} | {"listings/notes.txt"}
    assert json.loads((tmp_path / "session_log.json").read_text())[-1]["event_type"] == "r2_duplicates"
    assert run("undo", "--yes", "--quiet").returncode == 0
    assert {o.key: bucket.read(o.key) for o in bucket.list("")} == before


def test_hash_pairs_finds_every_pair_within_the_distance():
    """The multi-index search against brute force, on random hashes and copies with up to 12 bits flipped."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, 3000, dtype=np.uint64)
    flips = np.array([sum(1 << int(b) for b in rng.choice(64, rng.integers(0, 13), replace=False)) for _ in range(3000)],
                     dtype=np.uint64)
    hashes = np.concatenate([base, base ^ flips])
    found = {tuple(p) for p in dup.hash_pairs(hashes, None, 10).tolist()}
    d = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    ii, jj = np.nonzero(np.triu(d <= 10, k=1))
    assert found == set(zip(ii.tolist(), jj.tolist()))
    cross = {tuple(p) for p in dup.hash_pairs(base, base ^ flips, 10).tolist()}
    d2 = np.bitwise_count(base[:, None] ^ (base ^ flips)[None, :])
    assert cross == set(zip(*map(lambda a: a.tolist(), np.nonzero(d2 <= 10))))


def test_a_watermarked_copy_passes_the_trimmed_check_and_another_photo_does_not():
    """A caption drawn over a real photo spoils the plain correlation of the thumbnails, not the trimmed one;
    a different photo passes neither."""
    from PIL import ImageDraw, ImageFont

    photo = Image.open(PHOTOS / "forest_path.jpg").convert("RGB")
    marked = photo.copy()
    draw = ImageDraw.Draw(marked)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", photo.width // 9)
    draw.text((photo.width * 0.05, photo.height * 0.7), "© listings", font=font, fill=(255, 255, 255))

    def thumb(im):
        return np.asarray(im.convert("L").resize((48, 48), Image.Resampling.BILINEAR), dtype=np.uint8)[None]

    other = thumb(Image.open(PHOTOS / "lake_boats.jpg"))
    assert dup.pixel_pairs(thumb(photo), thumb(marked))[0] < 0.93  # the plain check alone refuses it
    assert dup.trimmed_pairs(thumb(photo), thumb(marked))[0] >= 0.96
    assert dup.trimmed_pairs(thumb(photo), other)[0] < 0.96 and dup.pixel_pairs(thumb(photo), other)[0] < 0.93


def test_a_copy_with_a_banner_along_the_bottom_is_found_by_its_top(tmp_path):
    """A SOLD banner across the bottom of a real photo moves its whole-image pHash far beyond the candidate
    search and spoils the pixel check of the whole frame; the pHash and the pixels of the top 70 % still
    agree, so the copy is found and grouped (a different photo is not)."""
    from PIL import ImageDraw, ImageFont

    from segregator.analysis import analyse_file
    from segregator.settings import Settings

    folder = tmp_path / "photos"
    folder.mkdir()
    photo = Image.open(PHOTOS / "coffee.jpg").convert("RGB")
    photo.save(folder / "coffee.jpg", quality=92)
    marked = photo.copy()
    draw = ImageDraw.Draw(marked)
    draw.rectangle((0, int(photo.height * 0.85), photo.width, photo.height), fill=(250, 250, 250))
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", int(photo.height * 0.1))
    draw.text((photo.width * 0.04, photo.height * 0.86), "SOLD  call 555-0199", font=font, fill=(20, 20, 20))
    marked.save(folder / "coffee_sold.jpg", quality=85)
    Image.open(PHOTOS / "forest_path.jpg").convert("RGB").save(folder / "forest.jpg")
    settings = Settings().with_overrides({"placeholder.ocr": False})
    results = [analyse_file(folder / n, key=n, settings=settings) for n in ("coffee.jpg", "coffee_sold.jpg", "forest.jpg")]
    coll, failed = dup.collect(results)
    assert not failed
    whole = int(np.bitwise_count(coll.hashes[0] ^ coll.hashes[1]))
    upper = int(np.bitwise_count(coll.upper[0] ^ coll.upper[1]))
    s = dup.DuplicateSettings()
    assert whole > 2 * s.max_hamming and upper <= s.region_hamming, (whole, upper)
    assert dup.pixel_pairs(np.asarray(coll.thumbs[[0]]), np.asarray(coll.thumbs[[1]]))[0] < s.min_pixel_similarity
    assert [tuple(p) for p in dup.near_candidates(coll, s.max_hamming, s.variant_hamming, s.region_hamming).tolist()] == [(0, 1)]
    rows = dup.find_groups(coll, s)
    assert rows[2].group is None
    assert rows[0].group == rows[1].group == 1 and rows[0].keep != rows[1].keep
    assert {rows[0].tier, rows[1].tier} == {None, "near"}


def test_the_similar_tier_index_finds_what_all_pairs_finds(monkeypatch):
    """Above EXACT_UP_TO the similar tier searches an HNSW index instead of every pair: on embeddings of
    unrelated images and planted re-framed copies, it finds (nearly) every pair that all pairs finds and none
    that falls below the threshold (each candidate is checked on the full vectors)."""
    rng = np.random.default_rng(3)
    n, d = 6000, 256
    topics = rng.normal(0, 1, (40, d))
    e = topics[rng.integers(0, 40, n)] * 0.15 + rng.normal(0, 1, (n, d))  # related-ish, as photos of one kind
    src = rng.choice(n, 300, replace=False)
    dst = (src + 1 + rng.integers(0, n - 1, 300)) % n
    e[dst] = e[src] + rng.normal(0, 1, (300, d)) * rng.uniform(0.2, 0.6, (300, 1))
    e = (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float16)
    zeros = np.zeros(n, dtype=np.uint64)
    coll = dup.Collection([f"i{i:05d}" for i in range(n)], np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n),
                          [""] * n, np.zeros((n, 32), np.uint8), zeros, zeros, zeros, np.zeros((n, 1, 1), np.uint8), e,
                          upper=zeros, upper_mirror=zeros)
    exact = {tuple(p) for p in dup.similar_candidates(coll, 0.8).tolist()}
    monkeypatch.setattr(dup, "EXACT_UP_TO", 1000)
    indexed = {tuple(p) for p in dup.similar_candidates(coll, 0.8).tolist()}
    assert len(exact) >= 250  # the planted copies above the threshold, and nothing much else
    assert indexed <= exact
    assert len(indexed) >= 0.95 * len(exact), (len(indexed), len(exact))
    full = e.astype(np.float32)
    assert all(full[i] @ full[j] >= 0.8 for i, j in indexed)


def _grey_thumbs(names, size=48):
    out = []
    for name in names:
        im = Image.open(PHOTOS / name).convert("L")
        out.append(np.asarray(im.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8))
        out.append(np.asarray(ImageOps.mirror(im).crop((0, 0, im.width * 9 // 10, im.height))
                              .resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8))
    return np.stack(out)


def test_compiled_crops_and_trimmed_correlation_match_their_numpy_formulas():
    """The compiled loops (segregator/_pixels.py) against the formulas written out in numpy, on real photos:
    each thumbnail's centre crops resized back (box averaging), their unit rows, whole and top 70 %; and the
    trimmed correlation of every crop pairing, the best kept, with the flat-agreement rule."""
    from segregator._pixels import crop_units, trimmed_best

    thumbs = _grey_thumbs(PHOTO_NAMES)
    size = thumbs.shape[1]
    stack = np.empty((len(thumbs), len(dup.CROPS), size, size))
    for k, c in enumerate(dup.CROPS):
        d = max(1, round(size * c)) if c else 0
        r = dup._resize_matrix(size - 2 * d, size)
        stack[:, k] = r @ thumbs[:, d:size - d, d:size - d].astype(np.float64) @ r.T

    def unit(x):
        x = x.reshape(*x.shape[:2], -1)
        x = x - x.mean(axis=-1, keepdims=True)
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    got, raw = crop_units(thumbs, dup.CROPS, dup._resize_matrix, want_raw=True)
    assert np.allclose(raw.reshape(stack.shape), stack, atol=1e-3)
    assert np.allclose(got, unit(stack), atol=1e-5)
    rows = round(size * dup.UPPER)
    assert np.allclose(dup._unit_crops(thumbs, rows), unit(stack[:, :, :rows]), atol=1e-5)

    def trimmed(x, y, grey, keep=0.8):  # one pairing, as the docstring of trimmed_pairs says
        d = np.abs(x - y)
        kept = d <= np.sort(d)[int(round(keep * (len(d) - 1)))]
        a, b = x[kept] - x[kept].mean(), y[kept] - y[kept].mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())) if grey[kept].std() >= dup.TRIM_KEEP_SPREAD else 0.0

    ua, ub = unit(stack), unit(stack)
    ia, ib = np.arange(0, len(thumbs), 2), np.arange(1, len(thumbs), 2)  # each photo and its mirrored cut
    ib = np.r_[ib, ib[::-1]]
    ia = np.r_[ia, ia]
    combos = [(0, 0)] + [p for c in range(1, len(dup.CROPS)) for p in ((c, 0), (0, c))]
    best = trimmed_best(got, raw, got, ia, ib, combos, 0.8, dup.TRIM_KEEP_SPREAD)
    expected = [max(trimmed(ua[i, ca], ub[j, cb], stack[i, ca].ravel()) for ca, cb in combos) for i, j in zip(ia, ib)]
    assert np.allclose(best, expected, atol=1e-4)
    assert len(set(np.round(best, 3))) > 3  # the pairs differ: the formula is exercised, not a constant
    # a white background agrees with any other: the agreeing pixels must vary, or the correlation is 0
    white = np.full((2, size, size), 255, dtype=np.uint8)
    white[0, 20:28, 20:28], white[1, 10:14, 30:34] = 40, 90
    assert dup.trimmed_pairs(white[[0]], white[[1]])[0] == 0.0


def test_blank_frames_are_grouped_by_their_colour_and_a_dark_photo_keeps_its_brightened_copy(tmp_path):
    """Blank frames hold only noise, so their colour decides: a flat grey and a green frame with faint dots,
    each with a brightened and a darkened copy, make two groups; a much darker grey and a blue frame join
    neither. A photo too dark to show any hue is still grouped with its brightened copy (whose few hued
    pixels are no colour change)."""
    from PIL import ImageDraw

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(3)

    def save(im, name):
        im.save(folder / name, quality=90)

    grey = Image.new("RGB", (640, 480), (119, 119, 119))
    green = Image.new("RGB", (640, 480), (60, 150, 70))
    draw = ImageDraw.Draw(green)
    for x, y in rng.integers(0, 640, (400, 2)):
        draw.ellipse((int(x), int(y) % 480, int(x) + 2, int(y) % 480 + 2), fill=(64, 156, 74))
    for name, im in (("grey", grey), ("green", green)):
        save(im, f"{name}.jpg")
        save(ImageEnhance.Brightness(im).enhance(1.2), f"{name}_bright.jpg")
        save(ImageEnhance.Brightness(im).enhance(0.8), f"{name}_dark.jpg")
    save(Image.new("RGB", (640, 480), (40, 40, 40)), "charcoal.jpg")
    save(Image.new("RGB", (640, 480), (50, 80, 170)), "blue.jpg")
    night = ImageEnhance.Brightness(Image.open(PHOTOS / "lake_boats.jpg").convert("RGB")).enhance(0.12)
    save(night, "night.jpg")
    save(ImageEnhance.Brightness(night).enhance(1.2), "night_bright.jpg")

    rows = _rows(run("duplicates", folder, "--json"))
    group = {k: r["group"] for k, r in rows.items()}
    assert group["grey.jpg"] is not None and group["green.jpg"] is not None and group["grey.jpg"] != group["green.jpg"]
    for name in ("grey", "green"):
        assert group[f"{name}_bright.jpg"] == group[f"{name}_dark.jpg"] == group[f"{name}.jpg"], rows
        assert {rows[f"{name}{s}.jpg"]["tier"] for s in ("_bright", "_dark")} <= {"near", None}
    assert group["charcoal.jpg"] is None and group["blue.jpg"] is None, rows
    assert group["night.jpg"] is not None and group["night.jpg"] == group["night_bright.jpg"], rows


def test_linked_parts_checks_fewer_pairs_and_finds_the_sets_of_every_pair_checked():
    """A big set of look-alikes (overlapping windows of real photos, many of them copies of each other): the
    lazily checked sets equal the connected sets of all pairs that match, with fewer pairs compared."""
    rng = np.random.default_rng(5)
    photos = [np.asarray(Image.open(PHOTOS / n).convert("L"), dtype=np.float32) for n in PHOTO_NAMES]
    thumbs = []
    for k in range(150):
        im = photos[k % 3]
        side = min(im.shape) // 3
        y, x = (int(v) for v in rng.integers(0, 4, 2) * 5)  # a few positions: windows repeat, nearly
        window = Image.fromarray(im[y:y + side, x:x + side].astype(np.uint8)).resize((48, 48), Image.Resampling.BOX)
        noisy = np.asarray(window, dtype=np.float32) + rng.normal(0, 2, (48, 48))
        thumbs.append(np.clip(noisy, 0, 255).astype(np.uint8))
    thumbs = np.stack(thumbs)
    n = len(thumbs)
    zeros = np.zeros(n, np.uint64)
    coll = dup.Collection([f"w{i:03d}.jpg" for i in range(n)], np.full(n, 1000), np.full(n, 640 * 480), np.zeros(n),
                          ["JPEG"] * n, np.zeros((n, 32), np.uint8), zeros, zeros, zeros, thumbs)
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.int64)
    settings = dup.DuplicateSettings()
    every = dup.compare(coll, pairs[:, 0], pairs[:, 1], settings)
    linked = pairs[[m.tier is not None for m in every]]
    assert 0 < len(linked) < len(pairs) // 2  # some windows match, most pairs do not
    status = np.full(len(pairs), dup.UNCHECKED, dtype=np.int8)
    known = {}
    parts = dup.linked_parts(coll, pairs, status, settings, known)
    assert [p.tolist() for p in parts] == [c.tolist() for c in dup._components(n, linked)]
    checked = status != dup.UNCHECKED
    assert checked.sum() < len(pairs) and len(known) == checked.sum(), (len(linked), checked.sum(), len(pairs))
    assert all((status[k] == dup.LINKED) == (every[k].tier is not None) for k in np.nonzero(checked)[0])
