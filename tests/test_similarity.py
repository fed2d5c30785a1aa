import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from segregator.hashing import PerceptualHash, fingerprint, hamming_many
from segregator.loading import load_image
from segregator.settings import SimilaritySettings
from segregator.similarity import Reference, find_similar
from tests.conftest import font, jpeg_bytes, photo, photo_paths


def _fp(im: Image.Image):
    return fingerprint(load_image(jpeg_bytes(im, quality=90), 256).image)


def _watermark(im: Image.Image) -> Image.Image:
    """A semi-transparent text watermark, as photo sites stamp them."""
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((im.width * 0.08, im.height * 0.8), "© listings.example",
                               font=font(im.width // 14, True), fill=(255, 255, 255, 150))
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


EDITS = {
    "half": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "quality35": lambda im: load_image(jpeg_bytes(im, quality=35), 4096).image,
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "less_contrast": lambda im: ImageEnhance.Contrast(im).enhance(0.8),
    "watermark": _watermark,
    "crop5": lambda im: im.crop((round(im.width * .05), round(im.height * .05), round(im.width * .95), round(im.height * .95))),
}


def test_hash_is_a_value_object():
    a = PerceptualHash("phash", 0b1011)
    b = PerceptualHash("phash", 0b0001)
    assert a - b == 2 and b - a == 2 and a - a == 0
    assert {a: 1}[PerceptualHash("phash", 0b1011)] == 1
    assert str(a) == "000000000000000b" and PerceptualHash.from_hex("phash", str(a)) == a
    with pytest.raises(TypeError):
        a - PerceptualHash("dhash", 1)
    with pytest.raises(ValueError):
        PerceptualHash.from_hex("phash", "abc")


def test_vectorised_hamming_equals_pairwise():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**63, size=500, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 500, dtype=np.uint64)
    ref = int(values[7])
    expected = [(int(v) ^ ref).bit_count() for v in values]
    assert hamming_many(ref, values).tolist() == expected


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_copies_are_found(edit):
    original = photo("forest_path")
    reference = Reference.from_image(load_image(jpeg_bytes(original), 256).image)
    result = find_similar(reference, [_fp(EDITS[edit](original))])[0]
    assert result.match, result


def test_crop_is_found_by_pixel_stage_where_phash_alone_misses():
    original = photo("china")
    crop = EDITS["crop5"](original)
    reference = Reference.from_image(load_image(jpeg_bytes(original), 256).image)
    strict_hash_only = SimilaritySettings(max_hamming=4, loose_hamming=64, min_pixel_similarity=1.01)
    with_pixels = SimilaritySettings(max_hamming=4, loose_hamming=64, min_pixel_similarity=0.9)
    assert not find_similar(reference, [_fp(crop)], strict_hash_only)[0].match
    r = find_similar(reference, [_fp(crop)], with_pixels)[0]
    assert r.match and r.pixel_similarity > 0.95


def test_other_photos_do_not_match():
    paths = photo_paths()
    fps = [_fp(Image.open(p).convert("RGB")) for p in paths]
    for i, p in enumerate(paths):
        reference = Reference.from_image(load_image(p, 256).image)
        results = find_similar(reference, fps)
        matched = [paths[r.index].name for r in results if r.match]
        assert matched == [p.name], f"{p.name} matched {matched}"


def test_results_follow_candidate_order_and_threshold():
    original = photo("beach")
    reference = Reference.from_image(load_image(jpeg_bytes(original), 256).image)
    cands = [_fp(photo("coffee")), _fp(EDITS["half"](original))]
    results = find_similar(reference, cands)
    assert [r.index for r in results] == [0, 1]
    assert [r.match for r in results] == [False, True]
    assert results[1].hamming <= results[0].hamming
    none = find_similar(reference, cands, SimilaritySettings(max_hamming=-1, min_pixel_similarity=1.01))
    assert not any(r.match for r in none)
    assert find_similar(reference, []) == []


def test_fast_hashes_follow_imagehash():
    import imagehash

    from segregator.hashing import _to_int, dhash_of, phash_of

    agree = total = 0
    for path in photo_paths():
        grey = load_image(path, 256).image.convert("L")
        for ours, theirs in ((phash_of(grey), _to_int(imagehash.phash(grey))), (dhash_of(grey), _to_int(imagehash.dhash(grey)))):
            total += 1
            agree += (ours ^ theirs).bit_count() <= 1  # a median tie may flip one bit
    assert agree == total
