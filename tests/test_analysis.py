import pytest

from segregator import jobs
from segregator.analysis import analyse_bytes, analyse_many
from segregator.classify import classify_features
from segregator.features import extract_features
from segregator.loading import load_image
from segregator.progress import ProgressTracker
from segregator.settings import CATEGORIES, ClassifierSettings, Settings
from segregator.storage import LocalStorage
from tests.conftest import DATA, PHOTOS, bad_inputs


def _features(name):
    loaded = load_image(PHOTOS / name, 256)
    return extract_features(loaded.image, loaded.aspect_ratio)


def test_features_are_bounded_and_tell_photos_apart():
    forest, beach = _features("forest_path.jpg"), _features("beach.jpg")
    for f in (forest, beach):
        for name, value in f.vector().items():
            assert value == value, name  # no NaN
        assert 0 <= f.brightness <= 1 and 0 <= f.saturation <= 1 and 0 <= f.edge_density <= 1
        assert 0 < sum(f.hue_hist) <= 1 + 1e-6
    assert forest.green_share > beach.green_share
    assert abs(_features("rocket.jpg").aspect_ratio - 320 / 214) < 0.001


def test_classification_is_one_of_nine_with_probabilities():
    c = classify_features(_features("coffee.jpg"), Settings().classifier)
    assert c.category in CATEGORIES
    assert abs(sum(c.scores.values()) - 1) < 1e-3
    assert c.confidence == max(c.scores.values())


def test_weights_and_temperature_come_from_settings():
    f = _features("coffee.jpg")
    forced = ClassifierSettings(weights={"Sports": {"bias": 50.0}})
    assert classify_features(f, forced).category == "Sports"
    base = Settings().classifier
    soft = ClassifierSettings(weights=base.weights, temperature=10.0)
    assert classify_features(f, soft).confidence < classify_features(f, base).confidence
    assert Settings().with_overrides({"classifier.temperature": "2"}).classifier.temperature == 2.0
    with pytest.raises(ValueError):
        Settings().with_overrides({"classifier.nope": 1})


@pytest.mark.parametrize("name, data", sorted(bad_inputs().items()))
def test_every_bad_input_gives_a_result_not_an_exception(name, data):
    r = analyse_bytes(name, data)
    if name in ("zero.jpg", "truncated.jpg", "page.jpg", "bomb.png"):
        assert not r.ok and r.error
    else:
        assert r.ok and r.classification.category in CATEGORIES


def test_folder_run_reports_bad_files_and_goes_on(tmp_path):
    for name, data in bad_inputs().items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.jpg").write_bytes((PHOTOS / "china.jpg").read_bytes())
    (tmp_path / "README").write_text("a text file without an extension is skipped, not an error")
    states = []
    results = jobs.analyse_source(LocalStorage(tmp_path), progress=ProgressTracker(states.append), workers=2)
    by_key = {r.key: r for r in results}
    assert "README" not in by_key
    assert by_key["good.jpg"].ok
    assert by_key["zero.jpg"].error == "empty file (0 bytes)"
    assert by_key["truncated.jpg"].error == "truncated JPEG"
    assert len(results) == len(bad_inputs()) + 1
    assert states[-1].done == states[-1].total == len(bad_inputs()) + 2
    assert states[-1].rate > 0


def test_parallel_and_serial_runs_agree(photo_folder):
    storage = LocalStorage(photo_folder)
    serial = jobs.analyse_source(storage, workers=1, placeholders=False)
    parallel = jobs.analyse_source(storage, workers=2, placeholders=False)
    assert [(r.key, r.classification.category, r.fingerprint.phash) for r in serial] == \
           [(r.key, r.classification.category, r.fingerprint.phash) for r in parallel]


def test_images_analysed_stage_by_stage_get_the_results_they_get_one_at_a_time():
    """analyse_many (what the workers run on each batch) runs each stage over all its images before the next:
    photos, placeholders, product cut-outs and bad inputs mixed, with the image model and faces, every result
    is the one analyse_bytes gives the image alone, in order."""
    settings = Settings().with_overrides({"classifier.backend": "learned", "placeholder.ocr": False})
    images = [(p.name, p.read_bytes(), 0) for p in sorted(PHOTOS.glob("*.jpg"))[:6]]
    images += [(p.name, p.read_bytes(), 0) for p in sorted((DATA / "placeholders").glob("*.png"))[:2]]
    images += [(p.name, p.read_bytes(), 123) for p in sorted((DATA / "negatives").glob("*.jpg"))[:2]]
    images += [(name, data, 0) for name, data in sorted(bad_inputs().items())]
    images.insert(3, ("notes", b"plain text, no image", 0))
    many = analyse_many(images, settings)
    alone = [analyse_bytes(key, data, settings, size=size) for key, data, size in images]
    assert [r.key for r in many] == [key for key, _, _ in images]
    assert many == alone
    assert sum(1 for r in many if r.ok) >= 10 and sum(1 for r in many if r.error) >= 4
    assert any(r.faces for r in many) and any(r.category == "no_image" for r in many)
