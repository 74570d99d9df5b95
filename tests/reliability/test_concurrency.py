"""Predictions from several threads at once equal the serial ones.

tests/infer/test_predictor.py runs ``predict_files`` and ``predict_batch`` of one Predictor
from six threads. Here: four threads start together on the public one-call API
``sertk.predict`` (whose predictor cache must load the model once, not once per thread) and
on segment prediction of long files, mixed, each thread over several files.
"""
from __future__ import annotations

import threading

import numpy as np

import sertk
import sertk.infer.api as api
from sertk.infer import SegmentOptions, load_model, predict_long
from tests.infer.tiny import write_clip

THREADS = 4


def _run_together(work) -> dict[int, object]:
    """``work(k)`` in THREADS threads released at once; re-raises any thread's error."""
    start, results, errors = threading.Barrier(THREADS), {}, []

    def run(k: int):
        try:
            start.wait()
            results[k] = work(k)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == THREADS
    return results


def _probs(prediction) -> list[float]:
    return list(prediction.probabilities.values())


def test_sertk_predict_from_four_threads(checkpoint, tmp_path, monkeypatch):
    paths = [write_clip(tmp_path / f"c{i}.wav", 0.4 + 0.35 * i, seed=i) for i in range(5)]
    serial = [load_model(checkpoint, device="cpu", vad=False).predict_file(p) for p in paths]
    loads = []
    real_load = api.load_model

    def counting_load(*args, **kwargs):
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(api, "_CACHE", {})
    monkeypatch.setattr(api, "load_model", counting_load)
    # each thread walks the files from a different start, so different files overlap in time
    results = _run_together(lambda k: [sertk.predict(paths[(k + i) % len(paths)],
                                                     model=str(checkpoint), device="cpu",
                                                     vad=False)
                                       for i in range(len(paths))])
    assert len(loads) == 1  # one predictor, shared
    for k, got in results.items():
        for i, prediction in enumerate(got):
            expected = serial[(k + i) % len(paths)]
            assert prediction.label == expected.label
            np.testing.assert_allclose(_probs(prediction), _probs(expected), atol=1e-6)


def test_segment_and_utterance_prediction_mixed_across_threads(checkpoint, tmp_path):
    predictor = load_model(checkpoint, device="cpu", vad=False)
    paths = [write_clip(tmp_path / f"long{i}.wav", 5.0 + 2.0 * i, seed=i, rate=22_050)
             for i in range(3)]
    options = SegmentOptions(2.0, 1.0, batch_size=4)
    serial_long = [predict_long(predictor, p, options) for p in paths]
    serial_files = predictor.predict_files(paths, batch_size=2)

    def work(k: int):
        if k % 2:
            return predictor.predict_files(paths, batch_size=2)
        return [predict_long(predictor, p, options) for p in paths]

    for k, got in _run_together(work).items():
        expected = serial_files if k % 2 else serial_long
        for a, b in zip(got, expected):
            assert a.ok and a.prediction.label == b.prediction.label
            np.testing.assert_allclose(_probs(a.prediction), _probs(b.prediction), atol=1e-6)
            if not k % 2:
                assert [w.start for w in a.windows] == [w.start for w in b.windows]
                for wa, wb in zip(a.windows, b.windows):
                    np.testing.assert_allclose(_probs(wa.prediction), _probs(wb.prediction),
                                               atol=1e-6)
