"""The analysis cache: a second pass over unchanged images decodes nothing; a changed image is analysed again."""

import os
import shutil

from segregator import jobs
from segregator.storage import LocalStorage
from tests.conftest import PHOTOS
from tests.test_cli import run


def _summary(results):
    return [(r.key, r.category, r.fingerprint.phash.value if r.fingerprint else None, r.error) for r in results]


def test_rescan_uses_the_cache_until_a_file_changes(photo_folder, tmp_path):
    storage = LocalStorage(photo_folder)
    first = jobs.analyse_source(storage, workers=1)
    # Swap a file's bytes but keep its size and time: a cache hit gives the old answer, so nothing was decoded.
    target = photo_folder / "chelsea.jpg"
    stat = target.stat()
    swapped = (PHOTOS / "coffee.jpg").read_bytes()[: stat.st_size].ljust(stat.st_size, b"\0")
    target.write_bytes(swapped)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = jobs.analyse_source(storage, workers=1)
    assert _summary(second) == _summary(first)
    # A new modification time: analysed again.
    os.utime(target, (stat.st_atime + 10, stat.st_mtime + 10))
    third = {r.key: r for r in jobs.analyse_source(storage, workers=1)}
    assert third["chelsea.jpg"].fingerprint is None or \
        third["chelsea.jpg"].fingerprint.phash != {r.key: r for r in first}["chelsea.jpg"].fingerprint.phash
    # Without the cache everything is analysed again.
    fresh = {r.key: r for r in jobs.analyse_source(storage, workers=1, cache=False)}
    assert _summary([fresh["chelsea.jpg"]]) == _summary([third["chelsea.jpg"]])


def test_other_settings_do_not_use_each_others_results(photo_folder):
    from segregator.settings import Settings

    storage = LocalStorage(photo_folder)
    base = jobs.analyse_source(storage, workers=1)
    forced = Settings().with_overrides({"classifier.weights": '{"Sports": {"bias": 50}}', "classifier.backend": "heuristic"})
    sports = jobs.analyse_source(storage, settings=forced, workers=1)
    assert {r.category for r in sports if r.category != "no_image"} == {"Sports"}
    assert _summary(jobs.analyse_source(storage, workers=1)) == _summary(base)


def test_cli_no_cache_flag(photo_folder):
    assert run("classify", photo_folder, "--json", "--quiet").returncode == 0
    cache_files = list((photo_folder.parent / "cache").glob("*.sqlite"))
    assert cache_files
    p = run("classify", photo_folder, "--json", "--quiet", "--no-cache")
    assert p.returncode == 0


def test_streamed_analysis_in_small_chunks_mixes_hits_and_misses(mixed_folder, monkeypatch):
    """iter_analysis works a chunk at a time (flat memory): with chunks of 2, a pass where some files are
    cached and some are new still gives every result once, in listing order, with progress reaching the end."""
    monkeypatch.setattr(jobs, "CHUNK", 2)
    storage = LocalStorage(mixed_folder)
    first = jobs.analyse_source(storage, workers=2)
    shutil.copy(PHOTOS / "coffee.jpg", mixed_folder / "aa_new.jpg")  # a miss in the first chunk
    seen = []
    stream = jobs.iter_analysis(storage, workers=2, progress=lambda done, total: seen.append((done, total)))
    second = list(stream)
    keys = [o.key for o in storage.list()]
    assert [r.key for r in second] == [k for k in keys if k in {r.key for r in second}]
    assert {r.key for r in second} == {r.key for r in first} | {"aa_new.jpg"}
    assert _summary([r for r in second if r.key != "aa_new.jpg"]) == _summary(first)
    assert seen[-1][0] == seen[-1][1] and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
