"""Command-line inputs -> audio files: files, folders, list files."""
from __future__ import annotations

from pathlib import Path

from sertk.infer.paths import collect_audio_paths, expand_input


def test_folders_are_searched_recursively_for_audio_sorted(tmp_path):
    for name in ["b.wav", "a.FLAC", "sub/c.ogg", "sub/deeper/d.mp3", "notes.txt", "x.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "sub" / "gone.wav").symlink_to(tmp_path / "deleted.wav")
    found = [p.relative_to(tmp_path).as_posix() for p in expand_input(tmp_path)]
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
