"""MP3 files with and without a Xing/Info tag, made with soundfile (libsndfile >= 1.1, LAME).

An MP3 stream states its length only in an optional first frame holding a Xing (VBR) or Info
(CBR) tag; without it a decoder estimates the length from the file size and the bit rate, so
the estimate may be a little more or less than what decodes. libsndfile's encoder always
writes the tag; :func:`write_mp3` with ``tag=False`` removes that first frame, which is
exactly what an encoder without a tag writes (the tag frame holds no audio).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

_BITRATES_KBPS = {  # layer III
    1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
_RATES = {1: [44100, 48000, 32000], 2: [22050, 24000, 16000], 25: [11025, 12000, 8000]}


def frame_bytes(header: bytes) -> int:
    """Length in bytes of the MPEG layer III frame starting with the 4-byte ``header``."""
    if header[0] != 0xFF or header[1] & 0xE0 != 0xE0 or (header[1] >> 1) & 3 != 1:
        raise ValueError(f"not an MPEG layer III frame header: {header.hex()}")
    version = {3: 1, 2: 2, 0: 25}[(header[1] >> 3) & 3]
    kbps = _BITRATES_KBPS[1 if version == 1 else 2][header[2] >> 4]
    rate = _RATES[version][(header[2] >> 2) & 3]
    padding = (header[2] >> 1) & 1
    return (144 if version == 1 else 72) * kbps * 1000 // rate + padding


def has_length_tag(data: bytes) -> bool:
    """Whether the first frame of an MP3 file (no ID3 tag) is a Xing/Info frame."""
    first = data[: frame_bytes(data[:4])]
    return b"Xing" in first or b"Info" in first


def write_mp3(path: str | Path, audio: np.ndarray, rate: int, *, tag: bool = True,
              constant: bool = True) -> Path:
    """Write (samples,) or (samples, channels) float ``audio`` as MP3; ``tag=False`` drops the
    Xing/Info frame. ``constant`` picks CBR (else libsndfile's default, VBR)."""
    path = Path(path)
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    options = dict(bitrate_mode="CONSTANT", compression_level=0.5) if constant else {}
    with sf.SoundFile(path, "w", rate, channels, format="MP3", **options) as f:
        f.write(audio)
    data = path.read_bytes()
    assert has_length_tag(data), "libsndfile no longer writes a Xing/Info frame"
    if not tag:
        data = data[frame_bytes(data[:4]):]
        path.write_bytes(data)
    return path
