"""One storage suite for every backend: the local folder and R2 (against the real S3 server). It checks the
primitives a safe move is built from, and moves through the journaled executor."""

import os

import pytest

from segregator import jobs
from segregator.plan import MovePlan, PlanItem
from segregator.storage import (COPY_GONE, REMOVED, SOURCE_CHANGED, LocalStorage, Removal, SourceChanged,
                                numbered_name)

# SeaweedFS refuses keys with a literal '..' or '.' segment (InvalidRequest), which R2 accepts; local folders
# refuse them on purpose. Dots inside names work everywhere.
ODD_KEYS = ("with space.jpg", "plus+sign.jpg", "per%cent.jpg", "ünïcødé/фото.jpg", "hash#q?.jpg", "a/..b/x..y.jpg")


@pytest.fixture(params=["local", "r2"])
def store(request, tmp_path):
    if request.param == "local":
        root = tmp_path / "root"
        root.mkdir()
        storage = LocalStorage(root)
    else:
        storage = request.getfixturevalue("bucket")
    for key, data in (("top.jpg", b"top"), ("a/one.jpg", b"one"), ("a/b/two.jpg", b"two")):
        storage.write(key, data)
    return storage


def _move(storage, src, dst, copy=False):
    plan = MovePlan("classify", storage.record(), "", "", [PlanItem(src, dst)])
    report, _ = jobs.run_plan(plan, storage, copy=copy)
    return report.results[0]


def test_listing_recursive_and_folder_only(store):
    assert sorted(o.key for o in store.list()) == ["a/b/two.jpg", "a/one.jpg", "top.jpg"]
    assert [o.key for o in store.list("a", recursive=False)] == ["a/one.jpg"]
    assert sorted(o.key for o in store.list("a/")) == ["a/b/two.jpg", "a/one.jpg"]
    assert store.list_folders() == ["a/"] and store.list_folders("a") == ["a/b/"]
    assert list(store.list("missing/")) == []
    assert store.info("a/one.jpg").size == 3
    listed = {o.key: o for o in store.list()}
    assert listed["top.jpg"].version == store.observe("top.jpg").version != store.observe("a/one.jpg").version


def test_write_never_overwrites(store):
    store.write("new/x.jpg", b"x")
    assert store.read("new/x.jpg") == b"x"
    with pytest.raises(FileExistsError):
        store.write("new/x.jpg", b"y")
    assert store.read("new/x.jpg") == b"x"


def test_numbered_names_stay_within_name_limits():
    assert numbered_name("d/photo.jpg", 2) == "d/photo_2.jpg" and numbered_name("noext", 1) == "noext_1"
    long = "d/" + "é" * 120 + ".jpg"  # 244 bytes
    name = numbered_name(long, 12)
    assert len(name.split("/")[-1].encode()) <= 255 and name.endswith("_12.jpg")


def test_place_never_overwrites_and_identical_bytes_are_not_ours(store):
    source = store.observe("a/one.jpg")
    store.write("out/one.jpg", b"one")  # a twin: the same bytes, not this run's copy
    method = store.move_method(source, "out/one.jpg", False)
    with pytest.raises(FileExistsError):
        store.prepare(source, "out/one.jpg", method, ".p.segregator-part", fresh=False)
    with pytest.raises(FileExistsError):
        store.place(source, "out/one.jpg", method, store.prepare(source, "out/new.jpg", method, ".q.segregator-part", True))
    assert store.read("out/one.jpg") == b"one"
    extra = store.prepare(source, "out/one_1.jpg", method, ".r.segregator-part", fresh=False)
    copy = store.place(source, "out/one_1.jpg", method, extra)
    store.finish_place(copy, extra)
    assert store.read("out/one_1.jpg") == b"one"
    assert store.claim(source, "out/one_1.jpg", method, extra) == store.observe("out/one_1.jpg")
    assert store.claim(source, "out/free.jpg", method, extra) is None


def test_place_refuses_a_changed_source(store):
    source = store.observe("top.jpg")
    store.delete("top.jpg")
    store.write("top.jpg", b"new bytes")
    method = store.move_method(source, "out/top.jpg", False)
    with pytest.raises((SourceChanged, FileNotFoundError)):
        store.place(source, "out/top.jpg", method, store.prepare(source, "out/top.jpg", method, ".t.segregator-part", True)
                    if method == "link" or store.kind == "r2" else {})
    assert store.observe("out/top.jpg") is None


def test_remove_sources_checks_both_objects_right_before(store):
    made = {}
    for key in ("a/one.jpg", "a/b/two.jpg", "top.jpg"):
        source = store.observe(key)
        target = "out/" + key.split("/")[-1]
        method = store.move_method(source, target, False)
        extra = store.prepare(source, target, method, f".{len(made)}.segregator-part", True)
        made[key] = (source, store.place(source, target, method, extra))
        store.finish_place(made[key][1], extra)
    store.delete("out/two.jpg")                        # someone removes a copy before the delete
    store.delete("top.jpg")
    store.write("top.jpg", b"replaced")                # someone replaces a source after its copy
    outcomes = store.remove_sources([Removal(s, c) for s, c in made.values()])
    assert [o for o, _ in outcomes] == [REMOVED, COPY_GONE, SOURCE_CHANGED]
    assert not store.exists("a/one.jpg") and store.read("a/b/two.jpg") == b"two" and store.read("top.jpg") == b"replaced"
    assert store.read("out/top.jpg") == b"top"


def test_remove_sources_without_conditional_deletes_or_listings(bucket):
    """Where the server ignores an ETag in DeleteObjects, sources are checked by HEAD just before; copies not
    shown by a listing are looked up one by one."""
    bucket._delete_if_match = False
    made = []
    for i in range(3):
        bucket.write(f"in/{i}.jpg", b"%d" % i)
        source = bucket.observe(f"in/{i}.jpg")
        made.append(Removal(source, bucket.place(source, f"out/{i}.jpg", "copy", {})))
    bucket.delete("in/1.jpg")
    bucket.write("in/1.jpg", b"changed")
    assert [o for o, _ in bucket.remove_sources(made)] == [REMOVED, SOURCE_CHANGED, REMOVED]
    assert bucket.read("in/1.jpg") == b"changed" and not bucket.exists("in/0.jpg")


def test_moves_and_copies_through_the_executor(store):
    result = _move(store, "a/one.jpg", "sorted/one.jpg")
    assert (result.status, result.destination) == ("moved", "sorted/one.jpg")
    assert not store.exists("a/one.jpg") and store.read("sorted/one.jpg") == b"one"
    result = _move(store, "top.jpg", "sorted/one.jpg")
    assert result.destination == "sorted/one_1.jpg"
    assert store.read("sorted/one.jpg") == b"one" and store.read("sorted/one_1.jpg") == b"top"
    result = _move(store, "a/b/two.jpg", "copies/two.jpg", copy=True)
    assert result.status == "copied" and store.read("a/b/two.jpg") == store.read("copies/two.jpg") == b"two"


def test_missing_objects(store):
    with pytest.raises(FileNotFoundError):
        store.read("nope.jpg")
    with pytest.raises(FileNotFoundError):
        store.info("nope.jpg")
    assert store.observe("nope.jpg") is None
    result = _move(store, "nope.jpg", "x/nope.jpg")
    assert result.status == "failed" and "not found" in result.error
    assert not store.exists("x/nope.jpg")
    store.delete("nope.jpg")  # already gone: not an error


def test_odd_keys_move_and_copy(store):
    for key in ODD_KEYS:
        store.write(key, key.encode())
        moved = _move(store, key, "out/" + key.split("/")[-1]).destination
        assert store.read(moved) == key.encode()
        assert not store.exists(key)
        copied = _move(store, moved, "copies/" + key.split("/")[-1], copy=True).destination
        assert store.read(copied) == key.encode() and store.exists(moved)


def test_delete_many_reports_per_key(store):
    keys = [f"bulk/{i:04d}.jpg" for i in range(30)]
    for k in keys:
        store.write(k, b"x")
    assert store.delete_many(keys) == []
    assert list(store.list("bulk/")) == []


def test_local_keys_outside_the_root_are_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    store = LocalStorage(root)
    (tmp_path / "secret.txt").write_text("s")
    for key in ("../secret.txt", "/etc/passwd", "a/../../secret.txt", "a\\..\\x"):
        with pytest.raises(PermissionError):
            store.read(key)
    os.symlink(tmp_path, root / "escape")
    with pytest.raises(PermissionError):
        store.read("escape/secret.txt")
    with pytest.raises(PermissionError):
        store.write("escape/new.txt", b"x")
    os.symlink(tmp_path / "secret.txt", root / "link.jpg")
    with pytest.raises(OSError, match="symbolic link"):
        store.read("link.jpg")  # a link's target is never read, inside the root or not
    assert [(o.key, bool(o.problem)) for o in store.list()] == [("escape", True), ("link.jpg", True)]


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        LocalStorage(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        LocalStorage(tmp_path / "f")
    assert LocalStorage(f"  {tmp_path}  ").root == tmp_path.resolve()  # surrounding spaces are not part of a path


def test_local_moves_link_and_copies_go_through_a_hidden_part_file(tmp_path):
    """A move within one filesystem is a hard link (the same inode: no byte copied); a copy is written to a
    hidden part file that is linked into place only when complete, and never listed."""
    tmp_path = tmp_path / "root"
    tmp_path.mkdir()
    store = LocalStorage(tmp_path)
    store.write("a/photo.jpg", b"x" * 5000)
    inode = os.stat(tmp_path / "a" / "photo.jpg").st_ino
    assert _move(store, "a/photo.jpg", "b/photo.jpg").status == "moved"
    assert os.stat(tmp_path / "b" / "photo.jpg").st_ino == inode
    (tmp_path / "b" / ".photo.jpg.123-4.segregator-part").write_bytes(b"x" * 10)  # as an old killed copy leaves it
    assert _move(store, "b/photo.jpg", "c/photo.jpg", copy=True).status == "copied"
    assert os.stat(tmp_path / "c" / "photo.jpg").st_ino != inode
    assert sorted(o.key for o in store.list()) == ["b/photo.jpg", "c/photo.jpg"]
    assert store.part_files("b/") == ["b/.photo.jpg.123-4.segregator-part"]
    assert not any(p.name.endswith(".segregator-part") for p in (tmp_path / "c").iterdir())
