"""sertk.fileio: atomic output files and one-line write errors that name the path."""
from __future__ import annotations

import errno

import pytest

from sertk.fileio import (atomic_open, atomic_write, check_writable_folder, naming,
                          os_error_message)
from tests.reliability.full_disk import ENOSPC_TEXT, FullDisk, files_under


def test_atomic_write_creates_folders_and_replaces_whole(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    atomic_write(path, "first\n")
    atomic_write(path, b"second\n")
    assert path.read_bytes() == b"second\n"
    assert files_under(tmp_path) == [path]


@pytest.mark.parametrize("budget", [0, 5])
def test_a_full_disk_keeps_the_old_file_and_names_the_path(tmp_path, monkeypatch, budget):
    path = tmp_path / "out.csv"
    path.write_text("old,complete\n")
    disk = FullDisk(tmp_path, budget).install(monkeypatch)
    with pytest.raises(OSError) as err:
        with atomic_open(path, newline="") as fh:
            fh.write("new,row\n" * 100)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    assert disk.failures == 1
    assert path.read_text() == "old,complete\n"
    assert files_under(tmp_path) == [path]  # the temporary file is gone


def test_an_error_in_the_body_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "out.json") as fh:
            fh.write("{")
            raise RuntimeError("stop")
    assert files_under(tmp_path) == []


def test_naming_adds_the_path_only_where_none_is_given(tmp_path):
    with pytest.raises(OSError) as err, naming(tmp_path / "x"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(err.value) == f"[Errno 28] No space left on device: '{tmp_path / 'x'}'"
    with pytest.raises(FileNotFoundError) as err, naming(tmp_path / "x"):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/elsewhere")
    assert err.value.filename == "/elsewhere"
    with pytest.raises(OSError, match="simulated"), naming(tmp_path / "x"):
        raise OSError("simulated")  # no errno: left alone


def test_messages_name_the_file_in_the_way(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    target = blocker / "sub" / "out.csv"
    with pytest.raises(OSError) as err:
        atomic_write(target, "x")
    assert os_error_message(err.value) == f"{target}: {blocker} is a file, not a folder"
    with pytest.raises(OSError) as err:
        check_writable_folder(target)
    assert os_error_message(err.value) == f"{target}: {blocker} is a file, not a folder"
    with pytest.raises(OSError) as err:
        (tmp_path / "blocker").mkdir()
    assert os_error_message(err.value) == f"{blocker}: is a file, not a folder"


def test_message_of_a_rename_and_of_a_pathless_error():
    err = OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")
    assert os_error_message(err) == "/a -> /b: Invalid cross-device link"
    assert os_error_message(OSError(errno.ENOSPC, ENOSPC_TEXT)) == ENOSPC_TEXT


def test_check_writable_folder_creates_the_folder_and_leaves_no_file(tmp_path):
    check_writable_folder(tmp_path / "new" / "preds.csv")
    assert (tmp_path / "new").is_dir() and files_under(tmp_path) == []
