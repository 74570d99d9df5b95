"""sertk.data.archive: safe extraction refuses every way out of the target folder."""
from __future__ import annotations

import io
import stat
import tarfile
import tracemalloc

import pytest

from sertk.data.archive import ArchiveError, archive_format, extract_archive, member_path
from tests.data.archives import (
    chained_longname_tar,
    corpus_members,
    many_member_tar,
    many_member_zip,
    tar_bytes,
    tar_entry,
    zip_bomb,
    zip_bytes,
    zip_with_lying_size,
)


def _archive(tmp_path, data: bytes, name: str = "a.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _extract(tmp_path, data: bytes, **limits):
    return extract_archive(_archive(tmp_path, data), tmp_path / "out", **limits)


def _outside(tmp_path) -> list:
    """Anything that escaped next to the archive (the tests' stand-in for 'outside DIR')."""
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in ("a.bin", "out"))


@pytest.mark.parametrize("fmt", ["zip", "tar", "gz", "bz2", "xz"])
def test_good_archive_extracts_every_file(tmp_path, fmt):
    members = corpus_members(4)
    data = zip_bytes(members) if fmt == "zip" else tar_bytes(
        members, compression="" if fmt == "tar" else fmt)
    files = _extract(tmp_path, data)
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in files) == sorted(members)
    for name, content in members.items():
        assert (out / name).read_bytes() == content
    assert archive_format(tmp_path / "a.bin") == ("zip" if fmt == "zip" else "tar")


@pytest.mark.parametrize("name", ["x", "./x", "a/./b", "a//b", "wav/03a01Fa.wav"])
def test_member_path_accepts_relative_names(name):
    assert ".." not in member_path(name).parts
    assert not member_path(name).is_absolute()


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "C:/x", "c:x",
                                  "..\\x", "a\\..\\..\\x", "\\\\server\\share", "a\x00b"])
def test_member_path_refuses_escapes(name):
    with pytest.raises(ValueError):
        member_path(name)


def test_member_path_root_is_none():
    assert member_path("./") is None and member_path("/".join(["."] * 3)) is None


@pytest.mark.parametrize("bad", ["../x.wav", "wav/../../x.wav", "/tmp/sertk-abs.wav"])
@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_escaping_names_are_refused(tmp_path, bad, fmt):
    members = corpus_members(2) | {bad: b"evil"}
    data = zip_bytes(members) if fmt == "zip" else tar_bytes(members)
    with pytest.raises(ArchiveError, match="outside|absolute") as err:
        _extract(tmp_path, data)
    assert str(tmp_path / "a.bin") in str(err.value)
    assert _outside(tmp_path) == []
    assert not (tmp_path / "out").exists()  # refused before writing anything


def test_zip_symlink_is_refused(tmp_path):
    data = zip_bytes(corpus_members(2), symlinks={"wav/link.wav": "../../../etc/passwd"})
    with pytest.raises(ArchiveError, match="symlink"):
        _extract(tmp_path, data)
    assert not (tmp_path / "out").exists()


def test_zip_symlink_inside_is_refused_too(tmp_path):
    data = zip_bytes(corpus_members(2), symlinks={"wav/link.wav": "03a00Fa.wav"})
    with pytest.raises(ArchiveError, match="symlink"):
        _extract(tmp_path, data)


@pytest.mark.parametrize("entry,match", [
    (tar_entry("wav/out.wav", tarfile.SYMTYPE, "../../outside.wav"), "symlink"),
    (tar_entry("wav/abs.wav", tarfile.SYMTYPE, "/etc/passwd"), "symlink"),
    (tar_entry("wav/in.wav", tarfile.SYMTYPE, "03a00Fa.wav"), "symlink"),
    (tar_entry("wav/hard.wav", tarfile.LNKTYPE, "../../../etc/passwd"), "hard link"),
    (tar_entry("wav/hard2.wav", tarfile.LNKTYPE, "wav/03a00Fa.wav"), "hard link"),
    (tar_entry("wav/tty", tarfile.CHRTYPE), "device"),
    (tar_entry("wav/disk", tarfile.BLKTYPE), "device"),
    (tar_entry("wav/pipe", tarfile.FIFOTYPE), "FIFO"),
])
def test_tar_links_and_devices_are_refused(tmp_path, entry, match):
    data = tar_bytes(corpus_members(2), extra=[entry])
    with pytest.raises(ArchiveError, match=match):
        _extract(tmp_path, data)
    assert _outside(tmp_path) == []
    assert not (tmp_path / "out").exists()


def test_zip_device_mode_is_refused(tmp_path):
    data = zip_bytes({"wav/dev": b""}, mode=stat.S_IFCHR | 0o644)
    with pytest.raises(ArchiveError, match="not a regular file"):
        _extract(tmp_path, data)


def test_zip_permission_bits_are_ignored(tmp_path):
    files = _extract(tmp_path, zip_bytes({"run.sh": b"#!/bin/sh\n"}, mode=stat.S_IFREG | 0o4777))
    assert not files[0].stat().st_mode & (stat.S_ISUID | stat.S_IXOTH)


def test_zip_bomb_is_refused_by_declared_size(tmp_path):
    data = zip_bomb(8 * 2**20)
    assert len(data) < 64 * 1024
    with pytest.raises(ArchiveError, match="zip bomb"):
        _extract(tmp_path, data, max_bytes=2**20)
    assert not (tmp_path / "out").exists()


def test_zip_with_lying_header_cannot_exceed_limit(tmp_path):
    """The header claims 10 bytes of a member that inflates to 4 MB: reading stops at the
    claimed size (then the CRC fails), so nothing near the limit is ever written."""
    data = zip_with_lying_size(4 * 2**20, claimed_size=10)
    with pytest.raises(ArchiveError):
        _extract(tmp_path, data, max_bytes=2**20)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 2**20


def test_tar_bomb_is_refused(tmp_path):
    data = tar_bytes({"wav/zeros.wav": bytes(3 * 2**20)})
    with pytest.raises(ArchiveError, match="over the limit"):
        _extract(tmp_path, data, max_bytes=2**20)


def test_member_count_limit(tmp_path):
    with pytest.raises(ArchiveError, match="members"):
        _extract(tmp_path, zip_bytes(corpus_members(20)), max_members=10)


@pytest.mark.parametrize("kind", ["tar", "zip", "zip-lying-count"])
def test_member_limit_is_exact(tmp_path, kind):
    """``limit`` members extract; ``limit + 1`` are refused before anything is written."""
    limit = 40
    for n in (limit, limit + 1):
        path = tmp_path / f"{n}.{kind}"
        if kind == "tar":
            many_member_tar(path, n)
        else:
            many_member_zip(path, n, declared=1 if kind == "zip-lying-count" else None)
        out = tmp_path / f"out{n}"
        if n == limit:
            assert len(extract_archive(path, out, max_members=limit)) == limit
        else:
            with pytest.raises(ArchiveError, match=f"over the limit of {limit}"):
                extract_archive(path, out, max_members=limit)
            assert not out.exists() or not any(out.iterdir())


def _peak_traced_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["tar", "zip", "zip-lying-count"])
def test_a_huge_member_count_is_refused_after_reading_the_limit_not_the_index(tmp_path, kind):
    """200,000 (tar) or 60,000 (zip) empty members against a limit of 1,000: the index is
    read only up to member 1,001, so memory is that of 1,000 members (reading the whole
    index, as getmembers()/ZipFile do, takes tens of MB)."""
    path = tmp_path / f"many.{kind}"
    if kind == "tar":
        many_member_tar(path, 200_000)
    else:
        many_member_zip(path, 60_000, declared=1 if kind == "zip-lying-count" else None)

    def refuse():
        with pytest.raises(ArchiveError, match="over the limit of 1000"):
            extract_archive(path, tmp_path / "out", max_members=1000)

    assert _peak_traced_bytes(refuse) < 4 * 2**20


def test_duplicate_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for content in (b"first", b"second"):
            info = tarfile.TarInfo("wav/a.wav")
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    with pytest.raises(ArchiveError, match="twice"):
        _extract(tmp_path, buf.getvalue())


@pytest.mark.parametrize("fmt", ["zip", "gz"])
def test_truncated_archive(tmp_path, fmt):
    members = corpus_members(30)
    data = zip_bytes(members) if fmt == "zip" else tar_bytes(members)
    with pytest.raises(ArchiveError, match="corrupt|truncated|not a zip or tar"):
        _extract(tmp_path, data[: len(data) // 2])


def test_corrupt_zip_data_is_detected(tmp_path):
    data = bytearray(zip_bytes({"wav/a.wav": bytes(range(256)) * 64}, dirs=()))
    data[40:60] = bytes(20)  # inside the deflate stream of the only member
    with pytest.raises(ArchiveError, match="corrupt"):
        _extract(tmp_path, bytes(data))


def test_not_an_archive(tmp_path):
    with pytest.raises(ArchiveError, match="not a zip or tar"):
        _extract(tmp_path, b"<html>404 Not Found</html>")


def test_existing_files_are_never_overwritten(tmp_path):
    out = tmp_path / "out"
    (out / "wav").mkdir(parents=True)
    (out / "wav" / "03a00Fa.wav").write_bytes(b"mine")
    with pytest.raises(ArchiveError, match="cannot extract"):
        extract_archive(_archive(tmp_path, zip_bytes(corpus_members(2))), out)
    assert (out / "wav" / "03a00Fa.wav").read_bytes() == b"mine"


def test_thousands_of_chained_tar_headers_are_a_clear_error(tmp_path):
    chained_longname_tar(tmp_path / "chain.tar", 5000)
    with pytest.raises(ArchiveError, match="chained extended headers"):
        extract_archive(tmp_path / "chain.tar", tmp_path / "out")
