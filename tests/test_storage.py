import os

import pytest

from segregator.storage import LocalStorage, numbered_name


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "top.jpg").write_bytes(b"top")
    (root / "a" / "one.jpg").write_bytes(b"one")
    (root / "a" / "b" / "two.jpg").write_bytes(b"two")
    return LocalStorage(root)


def test_listing_recursive_and_folder_only(store):
    assert [o.key for o in store.list()] == ["top.jpg", "a/one.jpg", "a/b/two.jpg"]
    assert [o.key for o in store.list("a", recursive=False)] == ["a/one.jpg"]
    assert [o.key for o in store.list("a/")] == ["a/one.jpg", "a/b/two.jpg"]
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
    assert store.copy("a/one.jpg", "top.jpg") == "top_2.jpg"
    assert store.read("top.jpg") == b"top" and store.read("top_2.jpg") == b"one"


def test_move_copies_verifies_then_deletes(store):
    assert store.move("a/one.jpg", "sorted/one.jpg") == "sorted/one.jpg"
    assert not store.exists("a/one.jpg") and store.read("sorted/one.jpg") == b"one"
    assert store.move("top.jpg", "sorted/one.jpg") == "sorted/one_1.jpg"
    assert store.read("sorted/one.jpg") == b"one" and store.read("sorted/one_1.jpg") == b"top"


def test_failed_copy_keeps_the_source(store):
    # "top.jpg" is a file, so "top.jpg/x.jpg" cannot be created: the copy fails before any delete.
    with pytest.raises(OSError):
        store.move("a/one.jpg", "top.jpg/x.jpg")
    assert store.read("a/one.jpg") == b"one"


def test_keys_outside_the_root_are_refused(store, tmp_path):
    (tmp_path / "secret.txt").write_text("s")
    for key in ("../secret.txt", "/etc/passwd", "a/../../secret.txt", "a\\..\\x"):
        with pytest.raises(PermissionError):
            store.read(key)
    os.symlink(tmp_path, store.root / "escape")
    with pytest.raises(PermissionError):
        store.read("escape/secret.txt")
    with pytest.raises(PermissionError):
        store.write("escape/new.txt", b"x")
    assert all(not o.key.startswith("escape") for o in store.list())


def test_odd_names_work(store):
    for key in ("with space.jpg", "plus+sign.jpg", "per%cent.jpg", "ünïcødé/фото.jpg", "hash#q?.jpg"):
        store.write(key, b"z")
        assert store.move(key, "out/" + key.split("/")[-1]).startswith("out/")


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        LocalStorage(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        LocalStorage(tmp_path / "f")
