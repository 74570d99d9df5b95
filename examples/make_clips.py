"""Write the demo clips: short English and German speech synthesised with espeak-ng.

    python examples/make_clips.py [OUT_DIR]      (default: examples/clips)

The clips are synthetic speech, not emotional recordings: each is one sentence
spoken by an espeak-ng voice with its own speed, pitch and loudness
(a calm, a lively, a slow and a loud style), so that `sertk predict` has
something speech-like to work on without any corpus. Their predictions show that
the tool works, not what an emotion sounds like.

Every clip is 16 kHz mono 16-bit PCM, a few seconds long. When espeak-ng is not
installed, the committed clips are left as they are.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
PEAK = 0.7  # peak amplitude before each style's gain
DEFAULT_OUT = Path(__file__).resolve().parent / "clips"


@dataclass(frozen=True)
class Clip:
    name: str
    voice: str  # espeak-ng voice + variant
    text: str
    speed: int  # words per minute (espeak-ng default 175)
    pitch: int  # 0-99 (default 50)
    gain: float  # relative loudness


CLIPS = (
    Clip("en_calm", "en-us+m3", "The meeting has been moved to Thursday afternoon.", 150, 40, 0.6),
    Clip("en_lively", "en-us+f3", "We won the match, I can hardly believe it!", 200, 70, 1.0),
    Clip("en_slow", "en-gb+m1", "I waited all day, and nobody came.", 125, 30, 0.5),
    Clip("de_calm", "de+m2", "Der Koffer liegt auf dem Tisch.", 150, 45, 0.6),
    Clip("de_loud", "de+f2", "Das habe ich dir doch schon hundertmal gesagt!", 210, 65, 1.0),
    Clip("de_slow", "de+m3", "Morgen wird es wieder regnen.", 105, 30, 0.5),
)


def synthesise(clip: Clip, espeak: str, workdir: Path) -> np.ndarray:
    """(samples,) float32 at 16 kHz for one clip."""
    raw = workdir / f"{clip.name}.raw.wav"
    subprocess.run([espeak, "-w", str(raw), "-v", clip.voice, "-s", str(clip.speed),
                    "-p", str(clip.pitch), clip.text],
                   check=True, capture_output=True)
    if not raw.is_file():  # espeak-ng 1.51 exits 0 even on a bad option
        raise RuntimeError(f"espeak-ng wrote no audio for {clip.name}")
    wave, rate = sf.read(raw, dtype="float32", always_2d=True)
    wave = soxr.resample(wave.mean(axis=1), rate, SAMPLE_RATE, quality="HQ")
    return (wave / max(float(np.abs(wave).max()), 1e-9) * PEAK * clip.gain).astype(np.float32)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        print(f"espeak-ng not found; keeping the committed clips in {out}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            wave = synthesise(clip, espeak, Path(tmp))
            path = out / f"{clip.name}.wav"
            sf.write(path, wave, SAMPLE_RATE, subtype="PCM_16")
            print(f"wrote {path} ({wave.size / SAMPLE_RATE:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
