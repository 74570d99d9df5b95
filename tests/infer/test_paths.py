"""Command-line inputs -> audio files: files, folders, list files; nothing dropped unsaid."""
from __future__ import annotations

import os
from pathlib import Path

from sertk.infer import paths
from sertk.infer.paths import collect_audio_paths, list_input, list_inputs


def test_folders_are_searched_recursively_for_audio_sorted(tmp_path):
    for name in ["b.wav", "a.FLAC", "sub/c.ogg", "sub/deeper/d.mp3", "notes.txt", "x.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "sub" / "gone.wav").symlink_to(tmp_path / "deleted.wav")
    found = [p.relative_to(tmp_path).as_posix() for p in list_input(tmp_path).paths]
    assert found == ["a.FLAC", "b.wav", "sub/c.ogg", "sub/deeper/d.mp3", "sub/gone.wav"]


def test_list_files_hold_paths_relative_to_themselves(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "one.wav").write_bytes(b"")
    (tmp_path / "clips" / "two.wav").write_bytes(b"")
    (tmp_path / "lists").mkdir()
    listing = tmp_path / "lists" / "files.lst"
    listing.write_text(f"# my files\n../clips/one.wav\n\n  {tmp_path}/clips/two.wav  \n"
                       f"../clips\nmissing.wav\n")
    got = collect_audio_paths([listing])
    assert [p.resolve() for p in got] == [
        (tmp_path / "clips" / "one.wav").resolve(), (tmp_path / "clips" / "two.wav").resolve(),
        (tmp_path / "clips" / "one.wav").resolve(), (tmp_path / "clips" / "two.wav").resolve(),
        (tmp_path / "lists" / "missing.wav").resolve()]


def test_files_and_missing_paths_are_kept_in_order(tmp_path):
    inputs = [tmp_path / "nope.wav", Path("relative.flac"), tmp_path / "nope.txt"]
    assert collect_audio_paths(inputs) == inputs  # missing list files are reported, not dropped


def test_folders_list_every_audio_or_video_file_and_leave_out_the_rest(tmp_path):
    names = ["a.wav", "b.m4a", "c.AAC", "d.wma", "e.mp4", "f.opus", "g.webm", "h.amr",
             "sub/i.mkv", "notes.txt", "cover.jpg", ".hidden.wav", "._a.wav", ".git/x.wav"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "linked").symlink_to(tmp_path / "sub", target_is_directory=True)
    listing = list_input(tmp_path)
    assert [e.path.relative_to(tmp_path).as_posix() for e in listing.entries] == [
        "a.wav", "b.m4a", "c.AAC", "d.wma", "e.mp4", "f.opus", "g.webm", "h.amr", "sub/i.mkv"]
    assert all(e.error is None for e in listing.entries)  # reading them will say why not
    assert sorted(p.relative_to(tmp_path).as_posix() for p in listing.left_out) == [
        "._a.wav", ".git", ".hidden.wav", "cover.jpg", "linked", "notes.txt"]


def test_a_name_the_system_refuses_is_an_entry_with_its_reason(tmp_path):
    long_name = tmp_path / ("a" * 300 + ".wav")
    listing = list_inputs([long_name, tmp_path / "ok.wav"])
    assert listing.paths == [long_name, tmp_path / "ok.wav"]
    assert "file name too long" in listing.entries[0].error and listing.entries[1].error is None
    (tmp_path / "files.txt").write_text(f"{'b' * 300}.wav\nok.wav\n")
    listing = list_input(tmp_path / "files.txt")
    assert [e.path.name for e in listing.entries] == ["b" * 300 + ".wav", "ok.wav"]
    assert "file name too long" in listing.entries[0].error


def test_unreadable_list_files_and_folders_are_entries_not_the_end(tmp_path, monkeypatch):
    (tmp_path / "files.txt").write_text("a.wav\n")
    (tmp_path / "music" / "locked").mkdir(parents=True)
    (tmp_path / "music" / "locked" / "x.wav").write_bytes(b"x")
    (tmp_path / "music" / "y.wav").write_bytes(b"x")

    def denied(path, **_):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(paths, "read_text", denied)
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path).endswith("locked"):
            denied(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = list_inputs([tmp_path / "files.txt", tmp_path / "music"])
    assert [(e.path, e.error) for e in listing.entries] == [
        (tmp_path / "files.txt", "cannot read list file (permission denied)"),
        (tmp_path / "music" / "locked", "cannot list folder (permission denied)"),
        (tmp_path / "music" / "y.wav", None)]
