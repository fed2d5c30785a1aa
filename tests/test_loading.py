import io

import pytest
from PIL import Image

from segregator.loading import ImageLoadError, is_image_name, load_image, sniff_image
from tests.conftest import PHOTOS, bad_inputs, jpeg_bytes, photo, png_bytes


def test_jpeg_is_decoded_small_with_full_size_reported():
    big = photo("beach").resize((3000, 2000), Image.Resampling.BICUBIC)
    data = jpeg_bytes(big, quality=90)
    loaded = load_image(data, size=256)
    assert max(loaded.image.size) == 256
    assert (loaded.width, loaded.height) == (3000, 2000)
    assert loaded.format == "JPEG" and loaded.image.mode == "RGB"


def test_draft_mode_decodes_jpeg_at_reduced_scale():
    big = photo("beach").resize((2400, 1600), Image.Resampling.BICUBIC)
    loaded = load_image(jpeg_bytes(big), 256)
    # DCT scaling at 1/8: the decoder never builds the 2400 px image.
    assert loaded.decoded_size == (300, 200)
    assert max(loaded.image.size) == 256


def test_path_and_bytes_give_the_same_image():
    path = PHOTOS / "coffee.jpg"
    a = load_image(path, 128)
    b = load_image(path.read_bytes(), 128)
    assert a.image.size == b.image.size
    assert a.image.tobytes() == b.image.tobytes()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_other_formats(fmt):
    buf = io.BytesIO()
    photo("flower").save(buf, fmt)
    loaded = load_image(buf.getvalue(), 64)
    assert loaded.format == fmt and max(loaded.image.size) == 64 and loaded.image.mode == "RGB"


def test_exif_orientation_is_applied():
    im = photo("rocket")  # landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = jpeg_bytes(im, exif=exif.tobytes())
    loaded = load_image(data, 512)
    assert (loaded.width, loaded.height) == (im.height, im.width)
    assert loaded.image.height > loaded.image.width


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    rgba.paste(photo("coffee").resize((20, 20)), (10, 10))
    loaded = load_image(png_bytes(rgba), 64)
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((20, 20)) != (255, 255, 255)


@pytest.mark.parametrize("name, message", [
    ("zero.jpg", "empty file (0 bytes)"),
    ("truncated.jpg", "truncated JPEG"),
    ("page.jpg", "not an image (HTML/XML text)"),
    ("bomb.png", "decompression bomb"),
])
def test_broken_files_raise_clear_errors(name, message):
    with pytest.raises(ImageLoadError) as err:
        load_image(bad_inputs()[name])
    assert message in str(err.value)


@pytest.mark.parametrize("name", ["one_pixel.png", "strip.png", "cmyk.jpg", "sixteen_bit.png", "palette_alpha.png", "animated.gif"])
def test_odd_but_valid_images_load(name):
    loaded = load_image(bad_inputs()[name], 256)
    assert loaded.image.mode == "RGB"
    assert 1 <= max(loaded.image.size) <= 256


def test_sixteen_bit_keeps_its_tones():
    loaded = load_image(bad_inputs()["sixteen_bit.png"], 64)
    lo, hi = loaded.image.convert("L").getextrema()
    assert hi - lo > 100  # not clipped to white


def test_missing_file_is_a_load_error(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.jpg")


def test_names_and_sniffing():
    assert is_image_name("A/B.JPeG") and not is_image_name("notes.txt")
    assert sniff_image((PHOTOS / "china.jpg").read_bytes()[:16])
    assert not sniff_image(b"<html>")
