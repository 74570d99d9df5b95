"""One file of each awkward kind, and what inference must make of it.

:data:`BAD_FILES` maps a kind to ``(writer, expect)``: ``expect`` is the words the
per-file error must contain, or ``None`` when the file must get a prediction.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.infer.tiny import speech_like


def _wav_bytes(tag: int, bits: int, data: bytes, channels: int = 1, rate: int = 16_000,
               data_size: int | None = None) -> bytes:
    block = channels * max(bits, 8) // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(data) if data_size is None else data_size
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", size) + data)
    return b"RIFF" + struct.pack("<I", 4 + len(body) if data_size is None else 36 + size) + body


def _pcm16(seconds: float) -> bytes:
    return (speech_like(seconds) * 32767).astype("<i2").tobytes()


def empty(path: Path) -> None:
    path.write_bytes(b"")


def not_audio(path: Path) -> None:
    path.write_text("path,label\nthis is a CSV, not audio\n")


def corrupt(path: Path) -> None:
    """A WAV whose 'fmt ' chunk is garbage."""
    good = _wav_bytes(1, 16, _pcm16(0.5))
    path.write_bytes(good[:20] + bytes(range(200, 216)) + good[36:])


def unsupported_codec(path: Path) -> None:
    """A WAV header naming a codec libsndfile does not implement (tag 0x1234)."""
    path.write_bytes(_wav_bytes(0x1234, 16, _pcm16(0.5)))


def zero_bits(path: Path) -> None:
    """PCM with 0 bits per sample: an unimplemented sample format."""
    path.write_bytes(_wav_bytes(1, 0, _pcm16(0.5)))


def zero_samples(path: Path) -> None:
    sf.write(path, np.zeros(0, np.float32), 16_000)


def nan(path: Path) -> None:
    wave = speech_like(1.0)
    wave[4000:4100] = np.nan
    sf.write(path, wave, 16_000, subtype="FLOAT")


def silent(path: Path) -> None:
    sf.write(path, np.zeros(24_000, np.int16), 16_000, subtype="PCM_16")


def one_sample(path: Path) -> None:
    sf.write(path, np.array([0.1], np.float32), 16_000, subtype="FLOAT")


def header_claims_hours_wav(path: Path) -> None:
    """A WAV whose data chunk claims 2 hours but holds 1 s: refused as truncated."""
    path.write_bytes(_wav_bytes(1, 16, _pcm16(1.0), data_size=2 * 3600 * 16_000 * 2))


def header_claims_hours_flac(path: Path) -> None:
    """A FLAC whose STREAMINFO claims 2 hours but holds 1 s."""
    sf.write(path, speech_like(1.0), 16_000, subtype="PCM_16", format="FLAC")
    data = bytearray(path.read_bytes())
    value = int.from_bytes(data[18:26], "big")
    value = (value & ~((1 << 36) - 1)) | (2 * 3600 * 16_000)
    data[18:26] = value.to_bytes(8, "big")
    path.write_bytes(bytes(data))


def stereo_44k_float64(path: Path) -> None:
    wave = speech_like(1.2, rate=44_100)
    stereo = np.stack([wave, -wave * 0.5], axis=1).astype(np.float64)
    sf.write(path, stereo, 44_100, subtype="DOUBLE")


def unsigned_8bit(path: Path) -> None:
    sf.write(path, speech_like(1.0, rate=8_000), 8_000, subtype="PCM_U8")


def directory(path: Path) -> None:
    path.mkdir()


BAD_FILES = {
    "empty.wav": (empty, "empty file"),
    "not_audio.wav": (not_audio, "not a readable audio file"),
    "corrupt.wav": (corrupt, "not a readable audio file"),
    "unsupported_codec.wav": (unsupported_codec, "not a readable audio file"),
    "zero_bits.wav": (zero_bits, "not a readable audio file"),
    "zero_samples.wav": (zero_samples, "no audio samples"),
    "nan.wav": (nan, "NaN"),
    "missing.wav": (lambda path: None, "file not found"),
    "folder.wav": (directory, "is a directory"),
    "hours_header.flac": (header_claims_hours_flac, "cannot decode audio"),
    "hours_header.wav": (header_claims_hours_wav, "truncated"),
    "silent.wav": (silent, None),
    "one_sample.wav": (one_sample, "too short: 1 samples < 400"),
    "stereo_44k_float64.wav": (stereo_44k_float64, None),
    "unsigned_8bit.wav": (unsigned_8bit, None),
}


def write_all(directory_: Path) -> dict[Path, str | None]:
    """Write every kind into ``directory_``; returns path -> expected error words (or None)."""
    directory_.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (writer, expect) in BAD_FILES.items():
        path = directory_ / name
        writer(path)
        expected[path] = expect
    return expected
