"""Build a longer demo recording from the example clips, with pauses between them.

    python examples/make_recording.py [OUT_WAV]    (default: examples/out/recording.wav)

The six clips of examples/clips follow one another with 1.5 s of digital silence and
0.8 s of faint room noise between them (about 25 s in all, 16 kHz mono), so that
`sertk predict OUT_WAV --segment 2 --hop 1 --plot DIR` shows a timeline: speech
segments with the emotion the model hears, and no-speech in the pauses. The clips are
synthetic speech, not emotional recordings: the timeline shows how the tool works,
not what an emotion sounds like.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
RATE = 16_000
ORDER = ("en_calm", "de_loud", "en_slow", "de_calm", "en_lively", "de_slow")


def build(clips: Path = HERE / "clips") -> np.ndarray:
    """(samples,) float32: the clips in ORDER with silence and faint noise between them."""
    rng = np.random.default_rng(0)
    parts = [np.zeros(RATE // 2, np.float32)]
    for name in ORDER:
        wave, rate = sf.read(clips / f"{name}.wav", dtype="float32")
        if rate != RATE:
            raise ValueError(f"{name}.wav: expected {RATE} Hz, got {rate}")
        parts += [wave, np.zeros(int(1.5 * RATE), np.float32),
                  (0.002 * rng.standard_normal(int(0.8 * RATE))).astype(np.float32)]
    return np.concatenate(parts)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else HERE / "out" / "recording.wav"
    out.parent.mkdir(parents=True, exist_ok=True)
    wave = build()
    sf.write(out, wave, RATE, subtype="PCM_16")
    print(f"wrote {out} ({wave.size / RATE:.1f} s: {len(ORDER)} clips with pauses)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
