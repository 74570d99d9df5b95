"""The HTTP API of ``sertk serve``, called with httpx on a real uvicorn process."""
from __future__ import annotations

import json
import socket
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

import sertk
from sertk.cli import main as sertk_main
from sertk.infer import load_model
from tests.infer.bad_files import BAD_FILES
from tests.serve.checks import assert_error, close
from tests.serve.conftest import MAX_DURATION, SILENCE_BETWEEN, UPLOAD_LIMIT_MB
from tests.serve.running import RunningServer, sertk_serve


def post_file(server, path: Path, query: str = "", **kwargs) -> httpx.Response:
    with open(path, "rb") as f:
        return httpx.post(f"{server.url}/predict{query}", files={"file": (path.name, f)},
                          timeout=120, **kwargs)


def sertk_predict_json(tmp_path: Path, *args: str) -> list[dict]:
    out = tmp_path / "predict.json"
    assert sertk_main(["predict", *args, "--out", str(out), "--no-progress"]) == 0
    return json.loads(out.read_text())


def assert_same_record(api: dict, cli: dict) -> None:
    """The API's record is the one ``sertk predict --out x.json`` writes (path aside)."""
    assert api["label"] == cli["label"] and api["error"] is None
    assert close(api["probabilities"], cli["probabilities"])
    assert api["duration"] == pytest.approx(cli["duration"])
    for key in ("windows", "segments"):
        assert len(api.get(key, [])) == len(cli.get(key, []))
        for a, c in zip(api.get(key, []), cli.get(key, [])):
            assert (a["label"], a["start"], a["end"]) == (c["label"], c["start"], c["end"])
            assert close(a["probabilities"], c["probabilities"])
    assert api.get("summary") == cli.get("summary")
    assert api.get("speech_regions") == cli.get("speech_regions")


# ---------------------------------------------------------------- endpoints

def test_health(tiny_server):
    body = httpx.get(f"{tiny_server.url}/health").json()
    assert body["status"] == "ok" and body["version"] == sertk.__version__
    assert body["model"].endswith("tiny")


def test_model_summary_of_the_bundled_model(emodb_server):
    body = httpx.get(f"{emodb_server.url}/model").json()
    assert body["labels"] == ["anger", "boredom", "disgust", "fear", "happiness", "neutral",
                              "sadness"]
    assert body["sample_rate"] == 16000 and body["max_seconds"] == 4.0
    card = body["card"]
    assert "EmoDB-2s" in card["sections"]["Data"]
    assert "57.90" in card["sections"]["How well it works"]  # its measured accuracy
    assert any("acted German speech" in item for item in card["limits"])
    assert body["server"]["max_upload_bytes"] == 50_000_000 and body["server"]["pool"] >= 1


def test_model_without_a_card(tiny_server):
    body = httpx.get(f"{tiny_server.url}/model").json()
    assert body["card"] is None and body["labels"] == ["anger", "boredom", "happiness",
                                                       "neutral", "sadness"]
    assert body["precision"] == "float32"


def test_page_and_static_files_are_served_without_external_links(tiny_server):
    page = httpx.get(f"{tiny_server.url}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for name in ("app.js", "style.css"):
        assert f"/static/{name}" in page.text
        asset = httpx.get(f"{tiny_server.url}/static/{name}")
        assert asset.status_code == 200 and len(asset.text) > 500
        assert "http://" not in asset.text and "https://" not in asset.text  # no CDN
    assert "http://" not in page.text and "https://" not in page.text


def test_openapi_documents_predict(tiny_server):
    spec = httpx.get(f"{tiny_server.url}/openapi.json").json()
    operation = spec["paths"]["/predict"]["post"]
    assert {p["name"] for p in operation["parameters"]} >= {"segment", "hop", "vad"}
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert httpx.get(f"{tiny_server.url}/docs").status_code == 200


def test_unknown_path_is_json(tiny_server):
    assert_error(httpx.get(f"{tiny_server.url}/nowhere"), 404)
    assert_error(httpx.get(f"{tiny_server.url}/predict"), 405)


# ---------------------------------------------------------------- predictions

def test_bundled_model_answers_as_sertk_predict(emodb_server, emodb_clips, tmp_path):
    clip = emodb_clips[3]
    api = post_file(emodb_server, clip)
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["path"] == clip.name and body["options"]["mode"] == "utterance"
    assert_same_record(body, sertk_predict_json(tmp_path, str(clip))[0])


def test_raw_body_equals_multipart(tiny_server, emodb_clips):
    clip = emodb_clips[7]
    multipart = post_file(tiny_server, clip).json()
    raw = httpx.post(f"{tiny_server.url}/predict", content=clip.read_bytes(),
                     headers={"Content-Type": "audio/wav"}, timeout=60)
    assert raw.status_code == 200, raw.text
    assert raw.json()["label"] == multipart["label"]
    assert close(raw.json()["probabilities"], multipart["probabilities"], 0.0)


def test_long_file_with_vad_has_a_no_speech_segment(tiny_server, tiny_checkpoint,
                                                    long_recording, tmp_path):
    response = post_file(tiny_server, long_recording, "?vad=true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["options"]["mode"] == "speech"
    gaps = [s for s in body["segments"] if s["label"] == "no-speech"]
    assert gaps and body["summary"]["shares"]["no-speech"] > 0.2
    # the first pause lies between the first clip (2 s) and the second (5 s)
    assert any(s["start"] <= 2.6 and s["end"] >= 4.4 for s in gaps), gaps
    assert body["duration"] == pytest.approx(4 * 2 + 3 * SILENCE_BETWEEN, abs=0.01)
    cli = sertk_predict_json(tmp_path, str(long_recording), "--vad", "--model",
                             str(tiny_checkpoint))[0]
    assert_same_record(body, cli)


def test_long_file_without_options_gets_a_timeline(tiny_server, tiny_checkpoint,
                                                   long_recording, tmp_path):
    body = post_file(tiny_server, long_recording).json()
    assert body["options"] == {"mode": "sliding", "segment": 4.0, "hop": 2.0}
    assert len(body["windows"]) >= 7 and body["segments"]
    cli = sertk_predict_json(tmp_path, str(long_recording), "--segment", "4", "--hop", "2",
                             "--model", str(tiny_checkpoint))[0]
    assert_same_record(body, cli)


def test_segment_options_are_those_of_sertk_predict(tiny_server, tiny_checkpoint,
                                                    long_recording, tmp_path):
    body = post_file(tiny_server, long_recording, "?segment=3&hop=1.5&no_vad=true").json()
    cli = sertk_predict_json(tmp_path, str(long_recording), "--segment", "3", "--hop", "1.5",
                             "--no-vad", "--model", str(tiny_checkpoint))[0]
    assert body["speech_regions"] is None
    assert_same_record(body, cli)


def test_min_confidence_and_top_k_are_those_of_sertk_predict(tiny_server, tiny_checkpoint,
                                                              emodb_clips, tmp_path):
    body = post_file(tiny_server, emodb_clips[0], "?min_confidence=1&top_k=2").json()
    assert body["label"] == "uncertain" and len(body["probabilities"]) >= 2
    assert [t["score"] for t in body["top"]] == sorted(body["probabilities"].values(),
                                                       reverse=True)[:2]
    cli = sertk_predict_json(tmp_path, str(emodb_clips[0]), "--min-confidence", "1",
                             "--top-k", "2", "--model", str(tiny_checkpoint))[0]
    assert_same_record(body, cli)


# ---------------------------------------------------------------- failures

@pytest.mark.parametrize("query, words", [
    ("?topk=3", ["unknown query option 'topk'"]),
    ("?min_confidence=1.5", ["min_confidence must be a probability in [0, 1]"]),
    ("?min_confidence=high", ["min_confidence must be a probability"]),
    ("?top_k=0", ["top_k must be >= 1"]),
    ("?top_k=two", ["top_k must be an integer"]),
    ("?segment=10", ["segment", "longer than the 4 s"]),
    ("?segment=abc", ["segment must be a number"]),
    ("?segment=nan", ["finite"]),
    ("?hop=1", ["hop needs segment"]),
    ("?vad=true&no_vad=true", ["choose one"]),
    ("?segment=2&smooth=2", ["smooth must be an odd number"]),
    ("?segment=1&segment=2", ["more than once"]),
])
def test_bad_query_options_are_422(tiny_server, emodb_clips, query, words):
    assert_error(post_file(tiny_server, emodb_clips[0], query), 422, *words)


def test_declared_oversize_is_refused_before_the_body(tiny_server):
    """A Content-Length over the limit is answered 413 while the body is still unsent."""
    with socket.create_connection(("127.0.0.1", tiny_server.port), timeout=30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
                     b"Content-Length: 1000000000\r\n\r\n" + b"\0" * 1024)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"upload larger than the server's limit" in body


def test_streamed_oversize_is_cut_off(tiny_server):
    """A chunked body (no Content-Length) is counted as it arrives: 413 past the limit."""
    sent = 0

    def body():
        nonlocal sent
        for _ in range(4 * UPLOAD_LIMIT_MB * 16):  # 4 x the limit in 64 KiB chunks
            sent += 65536
            yield b"\1" * 65536

    response = httpx.post(f"{tiny_server.url}/predict", content=body(),
                          headers={"Content-Type": "audio/wav"}, timeout=60)
    assert_error(response, 413, "upload larger than the server's limit")
    assert not tiny_server.upload_folders()


def test_oversize_multipart_is_cut_off(tiny_server, tmp_path):
    big = tmp_path / "big.wav"
    sf.write(big, np.zeros(int(UPLOAD_LIMIT_MB * 1e6 // 2) + 16000, np.int16), 16000)
    assert_error(post_file(tiny_server, big), 413)


@pytest.mark.parametrize("headers, content, status, words", [
    ({"Content-Type": "text/plain"}, b"hello", 415, ["unsupported Content-Type 'text/plain'"]),
    ({}, b"RIFF....", 415, ["unsupported Content-Type 'none'"]),
    ({"Content-Type": "audio/wav"}, b"", 400, ["empty request body"]),
    ({"Content-Type": "multipart/form-data"}, b"x", 400, ["without a boundary"]),
])
def test_wrong_type_or_malformed_body(tiny_server, headers, content, status, words):
    response = httpx.post(f"{tiny_server.url}/predict", content=content, headers=headers)
    assert_error(response, status, *words)


def test_multipart_without_a_file_field(tiny_server):
    response = httpx.post(f"{tiny_server.url}/predict", data={"audio": "x"},
                          files={"other": ("a.wav", b"RIFF")})
    assert_error(response, 400, "without a 'file' field")


UNUSABLE = ["not_audio.wav", "corrupt.wav", "unsupported_codec.wav", "zero_bits.wav",
            "zero_samples.wav", "nan.wav", "one_sample.wav"]


@pytest.mark.parametrize("name", UNUSABLE)
def test_unusable_audio_gets_the_reason_sertk_predict_gives(tiny_server, tiny_checkpoint,
                                                           tmp_path, name):
    path = tmp_path / name
    BAD_FILES[name][0](path)
    reason = load_model(tiny_checkpoint, device="cpu").predict_files([path])[0].error
    assert reason and BAD_FILES[name][1] in reason
    message = assert_error(post_file(tiny_server, path), 422)
    assert message == reason.replace(str(path), path.name)
    assert str(tmp_path) not in message and "sertk-serve-" not in message


def test_undecodable_format_names_it(tiny_server, tmp_path):
    path = tmp_path / "voice.webm"
    path.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 200)
    assert_error(post_file(tiny_server, path), 422, "does not decode .webm files")


def test_audio_over_the_duration_limit(tiny_server, tmp_path):
    path = tmp_path / "long_silence.flac"
    sf.write(path, np.zeros((MAX_DURATION + 10) * 8000, np.int16), 8000, format="FLAC")
    assert path.stat().st_size < UPLOAD_LIMIT_MB * 1e6
    assert_error(post_file(tiny_server, path), 413, f"limit of {MAX_DURATION} s")


def test_no_upload_survives_its_request(tiny_server, emodb_clips, tmp_path):
    """After successes and every kind of failure, the server's temp folder is empty."""
    post_file(tiny_server, emodb_clips[1])
    bad = tmp_path / "corrupt.wav"
    BAD_FILES["corrupt.wav"][0](bad)
    post_file(tiny_server, bad)
    post_file(tiny_server, emodb_clips[1], "?segment=abc")
    httpx.post(f"{tiny_server.url}/predict", content=b"x" * 10,
               headers={"Content-Type": "text/plain"})
    assert not tiny_server.upload_folders()
    assert not list(tiny_server.tmpdir.rglob("upload*"))  # nor a stray upload file anywhere


# ---------------------------------------------------------------- the pool

def test_concurrent_requests_past_the_pool_are_all_answered(tiny_server, emodb_clips):
    """Twelve clients at once on two slots: every request gets 200 or 503 + Retry-After."""
    data = emodb_clips[2].read_bytes()

    def call(_):
        return httpx.post(f"{tiny_server.url}/predict", content=data,
                          headers={"Content-Type": "audio/wav"}, timeout=120)

    with ThreadPoolExecutor(12) as clients:
        responses = list(clients.map(call, range(12)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses
    for r in responses:
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) >= 1
            assert_error(r, 503, "inference slots are busy")
        else:
            assert r.json()["label"] in ("anger", "boredom", "happiness", "neutral", "sadness")
    assert not tiny_server.upload_folders()


def test_full_pool_refuses_at_once_and_timeout_frees_nothing_early(gated_server, emodb_clips):
    """One slot held by a waiting inference: others get 503 at once; the held request
    gets 504 at the timeout, and its slot stays taken until its thread has stopped."""
    server, gate = gated_server, gated_server.gate
    data = emodb_clips[4].read_bytes()

    def call():
        return httpx.post(f"{server.url}/predict", content=data,
                          headers={"Content-Type": "audio/wav"}, timeout=60)

    with ThreadPoolExecutor(1) as background:
        held = background.submit(call)
        _wait_for(lambda: list(gate.glob("entered-*")))
        folders = server.upload_folders()  # the held upload, in its private folder
        assert len(folders) == 1 and folders[0].stat().st_mode & 0o777 == 0o700
        assert [p.name for p in folders[0].iterdir()] == ["upload.wav"]
        for _ in range(3):
            refused = call()
            assert_error(refused, 503)
            assert refused.headers["Retry-After"] == "1"
        assert_error(held.result(), 504, "longer than")
    assert_error(call(), 503)  # the timed-out thread still holds the slot
    (gate / "open").touch()
    _wait_for(lambda: not server.upload_folders())
    answered = _retry(call)
    assert answered.status_code == 200, answered.text


def _wait_for(condition, seconds: float = 60.0):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _retry(call, attempts: int = 100):
    import time

    for _ in range(attempts):
        response = call()
        if response.status_code != 503:
            return response
        time.sleep(0.1)
    return response


def test_several_workers_each_load_the_model_and_answer(tiny_checkpoint, emodb_clips, tmp_path):
    """``--workers 2``: uvicorn imports the worker factory by name in each process, with the
    options ``sertk serve`` was given (here the precision)."""
    server = RunningServer(sertk_serve("--model", str(tiny_checkpoint), "--workers", "2",
                                       "--int8"), tmp_path)
    try:
        r = httpx.post(f"{server.url}/predict", content=emodb_clips[0].read_bytes(),
                       headers={"Content-Type": "audio/wav"}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["label"] in r.json()["probabilities"]
        assert httpx.get(f"{server.url}/model").json()["precision"] == "int8"
    finally:
        server.stop()
    assert "error" not in server.log.read_text().lower()


def test_a_dimensional_model_answers_with_its_ratings(tmp_path):
    import io

    import soundfile as sf
    from fastapi.testclient import TestClient

    from sertk.serve import ServeOptions, create_app

    from tests.infer.tiny import make_checkpoint

    dims = load_model(make_checkpoint(tmp_path / "dims", padding="batch", n_dims=2), vad=False)
    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(2).standard_normal(16000) * 0.1, 16000,
             format="WAV")
    with TestClient(create_app(dims, ServeOptions(model=str(tmp_path / "dims")))) as client:
        r = client.post("/predict", content=buffer.getvalue(),
                        headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    ratings = r.json()["dimensions"]
    assert list(ratings) == ["arousal", "valence"]
    want = dims.predict(np.asarray(sf.read(io.BytesIO(buffer.getvalue()), dtype="float32")[0]),
                        16000).dimensions
    assert np.allclose([ratings[k] for k in ratings], [want[k] for k in ratings], atol=1e-5)
