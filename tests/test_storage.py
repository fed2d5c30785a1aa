"""One storage suite for every backend: the local folder and R2 (against the real S3 server)."""

import os

import pytest

from segregator.storage import LocalStorage, numbered_name

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


def test_listing_recursive_and_folder_only(store):
    assert sorted(o.key for o in store.list()) == ["a/b/two.jpg", "a/one.jpg", "top.jpg"]
    assert [o.key for o in store.list("a", recursive=False)] == ["a/one.jpg"]
    assert sorted(o.key for o in store.list("a/")) == ["a/b/two.jpg", "a/one.jpg"]
    assert store.list_folders() == ["a/"] and store.list_folders("a") == ["a/b/"]
    assert list(store.list("missing/")) == []
    assert store.info("a/one.jpg").size == 3


def test_write_never_overwrites(store):
    store.write("new/x.jpg", b"x")
    assert store.read("new/x.jpg") == b"x"
    with pytest.raises(FileExistsError):
        store.write("new/x.jpg", b"y")
    assert store.read("new/x.jpg") == b"x"


def test_copy_picks_a_free_name(store):
    assert numbered_name("d/photo.jpg", 2) == "d/photo_2.jpg" and numbered_name("noext", 1) == "noext_1"
    assert store.copy("a/one.jpg", "top.jpg") == "top_1.jpg"
    # The same bytes already at a name count as the copy (a retried or resumed copy makes no duplicate) ...
    assert store.copy("a/one.jpg", "top.jpg") == "top_1.jpg"
    # ... while other bytes get the next free name.
    assert store.copy("a/b/two.jpg", "top.jpg") == "top_2.jpg"
    assert store.read("top.jpg") == b"top" and store.read("top_1.jpg") == b"one" and store.read("top_2.jpg") == b"two"


def test_move_copies_verifies_then_deletes(store):
    assert store.move("a/one.jpg", "sorted/one.jpg") == "sorted/one.jpg"
    assert not store.exists("a/one.jpg") and store.read("sorted/one.jpg") == b"one"
    assert store.move("top.jpg", "sorted/one.jpg") == "sorted/one_1.jpg"
    assert store.read("sorted/one.jpg") == b"one" and store.read("sorted/one_1.jpg") == b"top"


def test_missing_objects(store):
    with pytest.raises(FileNotFoundError):
        store.read("nope.jpg")
    with pytest.raises(FileNotFoundError):
        store.info("nope.jpg")
    with pytest.raises(FileNotFoundError):
        store.move("nope.jpg", "x/nope.jpg")
    assert not store.exists("x/nope.jpg")
    store.delete("nope.jpg")  # already gone: not an error


def test_odd_keys_move_and_copy(store):
    for key in ODD_KEYS:
        store.write(key, key.encode())
        moved = store.move(key, "out/" + key.split("/")[-1])
        assert store.read(moved) == key.encode()
        assert not store.exists(key)
        copied = store.copy(moved, "copies/" + key.split("/")[-1])
        assert store.read(copied) == key.encode() and store.exists(moved)


def test_delete_many_reports_per_key(store):
    keys = [f"bulk/{i:04d}.jpg" for i in range(30)]
    for k in keys:
        store.write(k, b"x")
    assert store.delete_many(keys) == []
    assert list(store.list("bulk/")) == []


def test_failed_copy_keeps_the_source(tmp_path):
    store = LocalStorage(tmp_path)
    (tmp_path / "top.jpg").write_bytes(b"top")
    (tmp_path / "one.jpg").write_bytes(b"one")
    # "top.jpg" is a file, so "top.jpg/x.jpg" cannot be created: the copy fails before any delete.
    with pytest.raises(OSError):
        store.move("one.jpg", "top.jpg/x.jpg")
    assert store.read("one.jpg") == b"one"


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
    assert all(not o.key.startswith("escape") for o in store.list())


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        LocalStorage(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        LocalStorage(tmp_path / "f")


def test_local_copy_goes_through_a_hidden_part_file(tmp_path):
    """A local copy is linked into place only when complete: what a crash leaves is a hidden part file that
    is never listed, and no other file is left beside the copy."""
    store = LocalStorage(tmp_path)
    store.write("a/photo.jpg", b"x" * 5000)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ".photo.jpg.123-4.segregator-part").write_bytes(b"x" * 10)  # as a killed copy leaves it
    assert store.copy("a/photo.jpg", "b/photo.jpg") == "b/photo.jpg"
    assert store.read("b/photo.jpg") == b"x" * 5000
    assert sorted(o.key for o in store.list()) == ["a/photo.jpg", "b/photo.jpg"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [".photo.jpg.123-4.segregator-part", "photo.jpg"]
