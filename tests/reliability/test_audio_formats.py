"""Every format soundfile writes here, and MP3s with and without a length tag, through every reader.

A file is refused as truncated only where its container states an exact length (WAV, FLAC,
AIFF, ...): an MP3 without a Xing/Info tag states none, and the decoder's estimate may exceed
what decodes by part of a frame. The readers are ``load_audio``, the corpus check of
``sertk prepare`` (``check_audio``), the head read of utterance prediction (``read_head``) and
the block stream of segment prediction (``stream_audio``). For each written file soundfile
itself is the oracle: a file it decodes must load everywhere with about the written length; a
file it cannot decode (libsndfile writes some codecs it cannot read back) must be refused
with an ``AudioError`` naming the file, never a traceback.
"""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sertk.audio import AudioError, header_length_is_exact, load_audio, read_head
from sertk.cli import main
from sertk.data.validate import check_audio
from sertk.infer.stream import stream_audio
from tests.reliability.mp3 import has_length_tag, write_mp3

LAYOUTS = [(16_000, 1), (44_100, 2)]  # (rate, channels)
SECONDS = 0.6


def _tone(rate: int, channels: int, seconds: float = SECONDS) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    return np.stack([wave] * channels, axis=1).astype(np.float32)


def _readers(path):
    """name -> number of samples each reader gives at its output rate (16 kHz / native)."""
    return {
        "load_audio": lambda: len(load_audio(path)) / 16_000,
        "check_audio": lambda: check_audio(path),
        "read_head": lambda: len(read_head(path, 4.0)[0]) / 16_000,
        "stream_audio": lambda: sum(len(b) for b in stream_audio(path)) / 16_000,
    }


def _written(tmp_path):
    """Every (format, subtype, rate, channels) soundfile writes here, as {label: path}."""
    files = {}
    for fmt in sorted(sf.available_formats()):
        if fmt == "RAW":  # headerless: no reader can know its rate or sample type
            continue
        for subtype in sf.available_subtypes(fmt):
            for rate, channels in LAYOUTS:
                path = tmp_path / f"{fmt}-{subtype}-{rate}-{channels}.{fmt.lower()}"
                try:
                    sf.write(path, _tone(rate, channels), rate, format=fmt, subtype=subtype)
                except Exception:  # noqa: BLE001 - this libsndfile cannot write that combination
                    path.unlink(missing_ok=True)
                    continue
                files[f"{fmt}/{subtype}/{rate}/{channels}"] = path
    return files


def test_every_writable_format_loads_everywhere_or_is_refused_cleanly(tmp_path):
    files = _written(tmp_path)
    formats = {label.split("/")[0] for label in files}
    assert {"WAV", "FLAC", "OGG", "MP3", "AIFF", "CAF"} <= formats  # the test tests something
    problems = []
    for label, path in files.items():
        try:
            data, rate = sf.read(path)
            reference = len(data) / rate  # some formats fix their rate (WVE: 8 kHz)
        except Exception:  # noqa: BLE001 - written but not decodable by libsndfile itself
            reference = None
        for name, read in _readers(path).items():
            try:
                seconds = read()
            except AudioError as err:
                if reference is not None or str(path) not in str(err):
                    problems.append(f"{label} {name}: {err}")
                continue
            except Exception as err:  # noqa: BLE001
                problems.append(f"{label} {name}: {type(err).__name__}: {err}")
                continue
            if reference is None:
                problems.append(f"{label} {name}: accepted a file libsndfile cannot decode")
            elif abs(seconds - reference) > 0.05 or abs(reference - SECONDS) > 0.7:
                problems.append(f"{label} {name}: {seconds:.3f} s, libsndfile reads "
                                f"{reference:.3f} s, wrote {SECONDS} s")
    assert problems == []


@pytest.mark.parametrize("rate,channels", [(44_100, 2), (22_050, 1), (16_000, 1), (48_000, 2)])
@pytest.mark.parametrize("tag", [True, False], ids=["info-tag", "no-tag"])
def test_cbr_mp3_with_or_without_a_length_tag_loads_everywhere(tmp_path, rate, channels, tag):
    path = write_mp3(tmp_path / "clip.mp3", _tone(rate, channels, 3.0), rate, tag=tag)
    assert has_length_tag(path.read_bytes()) == tag
    for name, read in _readers(path).items():
        assert abs(read() - 3.0) < 0.1, name


def test_vbr_mp3_with_a_xing_tag_loads_everywhere(tmp_path):
    path = write_mp3(tmp_path / "clip.mp3", _tone(44_100, 2, 2.0), 44_100, constant=False)
    for name, read in _readers(path).items():
        assert abs(read() - 2.0) < 0.1, name


def test_mp3_duration_in_the_manifest_is_what_decodes(tmp_path):
    """Without a tag the header length is an estimate: prepare records the decoded length."""
    path = write_mp3(tmp_path / "clip.mp3", _tone(44_100, 1, 3.0), 44_100, tag=False)
    decoded = len(load_audio(path, 44_100))
    assert sf.info(str(path)).frames > decoded  # this encoder's estimate overshoots
    assert check_audio(path) == pytest.approx(decoded / 44_100)


def test_exact_length_is_a_property_of_the_container():
    assert header_length_is_exact("WAV", "PCM_16") and header_length_is_exact("FLAC", "PCM_24")
    assert not header_length_is_exact("MP3", "MPEG_LAYER_III")
    assert not header_length_is_exact("MPEG", "MPEG_LAYER_III")  # libsndfile's older name
    assert not header_length_is_exact("WAV", "MPEG_LAYER_III")  # MP3 frames in a RIFF box


def test_prepare_and_predict_accept_an_untagged_mp3(tmp_path, checkpoint, capsys):
    folder = tmp_path / "corpus" / "anger"
    folder.mkdir(parents=True)
    for k in range(2):
        write_mp3(folder / f"a{k}.mp3", _tone(44_100, 2, 1.5), 44_100, tag=False)
    assert main(["prepare", "folder", str(tmp_path / "corpus"), "-o",
                 str(tmp_path / "m.csv")]) == 0
    for mode in ([], ["--segment", "1"]):  # utterance (head read) and segment (stream)
        assert main(["predict", "--model", str(checkpoint), str(folder), *mode, "--no-progress",
                     "--out", str(tmp_path / "p.csv")]) == 0
        assert "truncated" not in capsys.readouterr().err
