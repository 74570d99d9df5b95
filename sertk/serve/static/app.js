// sertk web page: upload or record audio, POST it to /predict, draw the answer.
// No framework and nothing from the network: everything here is served by sertk.
"use strict";

const PALETTE = ["#d1495b", "#8d6cab", "#5b8e3e", "#e08e0b", "#edae49", "#3c7dc4",
                 "#2e4a7d", "#00a6a6", "#b5651d", "#7a7a7a"];
const NO_SPEECH = "no-speech";
const NO_SPEECH_COLOR = "#c9ced6";
const $ = (id) => document.getElementById(id);
let labels = [];

function colorOf(label) {
  if (label === NO_SPEECH) return NO_SPEECH_COLOR;
  const i = labels.indexOf(label);
  return PALETTE[(i < 0 ? labels.length : i) % PALETTE.length];
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------- model card
async function loadModel() {
  try {
    const res = await fetch("/model");
    const model = await res.json();
    labels = model.labels || [];
    $("model-line").textContent = `model ${model.name} (${model.architecture}), ` +
      `${labels.length} emotions: ${labels.join(", ")}; ${model.sample_rate} Hz, ` +
      `${model.max_seconds} s per window`;
    const card = $("card");
    card.textContent = "";
    if (model.card) {
      for (const [title, body] of Object.entries(model.card.sections)) {
        if (title.toLowerCase() === "limits" || title.toLowerCase() === "recipe") continue;
        const p = el("p");
        p.appendChild(el("strong", {}, title + ". "));
        p.appendChild(document.createTextNode(body.replace(/`/g, "")));
        card.appendChild(p);
      }
      for (const item of model.card.limits) $("limits").appendChild(el("li", {}, item.replace(/`/g, "")));
    } else {
      card.appendChild(el("p", { class: "muted" }, "This checkpoint has no model card."));
    }
    const s = model.server;
    $("limits").appendChild(el("li", {}, `This server takes files up to ${(s.max_upload_bytes / 1e6).toFixed(0)} MB ` +
      `and ${s.max_duration_s} s of audio, ${s.pool} at a time, ${s.timeout_s} s per request.`));
  } catch (err) {
    $("model-line").textContent = "cannot reach the server: " + err;
  }
}

// ---------------------------------------------------------------- prediction
async function predict(blob, filename) {
  const form = new FormData();
  form.append("file", blob, filename);
  const query = $("opt-vad").checked ? "?vad=true" : "";
  setStatus(`predicting ${filename}…`);
  const res = await fetch("/predict" + query, { method: "POST", body: form });
  let body;
  try { body = await res.json(); } catch (e) { body = { error: `HTTP ${res.status}` }; }
  return { ok: res.ok, status: res.status, body };
}

async function handleFile(file) {
  try {
    let answer = await predict(file, file.name);
    if (!answer.ok && answer.status === 422 && !/\.wav$/i.test(file.name)) {
      // a format the server's libsndfile does not decode: let the browser decode it
      const wav = await toWav(await file.arrayBuffer());
      if (wav) answer = await predict(wav, file.name.replace(/\.[^.]*$/, "") + ".wav");
    }
    show(answer, file.name);
  } catch (err) {
    setStatus("failed: " + err, true);
  }
}

function show(answer, filename) {
  if (!answer.ok) {
    setStatus(`${filename}: ${answer.body.error || "HTTP " + answer.status}`, true);
    return;
  }
  const r = answer.body;
  setStatus(`${filename}: done`);
  $("result-panel").classList.remove("hidden");
  $("result-file").textContent = `— ${r.path}, ${r.duration != null ? r.duration.toFixed(1) + " s" : ""}`;
  $("result-label").textContent = r.label;
  $("result-label").style.color = colorOf(r.label);
  $("result-prob").textContent = r.probability != null
    ? `probability ${(100 * r.probability).toFixed(1)} %` : "nobody speaks here";
  drawBars(r.probabilities || {});
  $("shares").textContent = r.summary
    ? "share of the time: " + Object.entries(r.summary.shares)
        .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(100 * v).toFixed(0)} %`).join(", ")
    : "";
  const long = Array.isArray(r.segments) && r.segments.length > 0;
  $("timeline-block").classList.toggle("hidden", !long);
  if (long) drawTimeline(r);
  $("json").textContent = JSON.stringify(r, null, 2);
}

function drawBars(probabilities) {
  const bars = $("bars");
  bars.textContent = "";
  const names = labels.length ? labels : Object.keys(probabilities);
  for (const name of names) {
    const p = probabilities[name] || 0;
    bars.appendChild(el("div", { class: "bar-name" }, name));
    const track = el("div", { class: "bar-track" });
    const fill = el("div", { class: "bar-fill" });
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    fill.style.background = colorOf(name);
    track.appendChild(fill);
    bars.appendChild(track);
    bars.appendChild(el("div", { class: "bar-value" }, `${(100 * p).toFixed(1)} %`));
  }
}

// Bands: one per timeline segment; curves: each label's probability per window (at its centre).
function drawTimeline(r) {
  const canvas = $("timeline");
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  const left = 40, right = 10, bandTop = 8, bandH = 34, plotTop = 60, plotH = H - plotTop - 28;
  const end = r.duration || r.segments[r.segments.length - 1].end;
  const x = (t) => left + (W - left - right) * t / end;
  const y = (p) => plotTop + plotH * (1 - p);
  ctx.clearRect(0, 0, W, H);
  ctx.font = "12px system-ui, sans-serif";
  for (const s of r.segments) {
    ctx.fillStyle = colorOf(s.label);
    ctx.fillRect(x(s.start), bandTop, Math.max(1, x(s.end) - x(s.start)), bandH);
    if (x(s.end) - x(s.start) > 60) {
      ctx.fillStyle = s.label === NO_SPEECH ? "#333" : "#fff";
      ctx.fillText(s.label, x(s.start) + 5, bandTop + bandH / 2 + 4);
    }
  }
  ctx.strokeStyle = "#dde1e6";
  ctx.fillStyle = "#5d6773";
  for (const p of [0, 0.5, 1]) {
    ctx.beginPath(); ctx.moveTo(left, y(p)); ctx.lineTo(W - right, y(p)); ctx.stroke();
    ctx.fillText(p.toFixed(1), 8, y(p) + 4);
  }
  const step = niceStep(end);
  for (let t = 0; t <= end + 1e-9; t += step) {
    ctx.fillText(`${+t.toFixed(2)} s`, Math.min(x(t), W - right - 30), H - 8);
  }
  // each speech window owns the time up to the midpoints between its neighbours' centres
  const spans = ownSpans((r.windows || []).filter((w) => w.probabilities));
  ctx.lineWidth = 2;
  for (const name of labels) {
    ctx.strokeStyle = colorOf(name);
    ctx.beginPath();
    let lastEnd = null;
    for (const s of spans) {
      const py = y(s.window.probabilities[name]);
      if (lastEnd !== null && Math.abs(s.start - lastEnd) < 1e-6) ctx.lineTo(x(s.start), py);
      else ctx.moveTo(x(s.start), py);
      ctx.lineTo(x(s.end), py);
      lastEnd = s.end;
    }
    ctx.stroke();
  }
  const legend = $("legend");
  legend.textContent = "";
  for (const name of [...labels, NO_SPEECH]) {
    const item = el("span");
    const sw = el("span", { class: "swatch" });
    sw.style.background = colorOf(name);
    item.appendChild(sw);
    item.appendChild(document.createTextNode(name));
    legend.appendChild(item);
  }
}

function ownSpans(windows) {
  return windows.map((w, i) => {
    const prev = windows[i - 1], next = windows[i + 1];
    const centre = (w.start + w.end) / 2;
    const start = prev && prev.end > w.start ? (centre + (prev.start + prev.end) / 2) / 2 : w.start;
    const end = next && next.start < w.end ? (centre + (next.start + next.end) / 2) / 2 : w.end;
    return { window: w, start, end };
  });
}

function niceStep(end) {
  for (const s of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600]) if (end / s <= 10) return s;
  return 1200;
}

// ---------------------------------------------------------------- recording
// Browsers record webm/ogg, which libsndfile may not decode: decode it here with Web
// Audio and send 16-bit PCM WAV.
async function toWav(arrayBuffer) {
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const audio = await ctx.decodeAudioData(arrayBuffer);
    ctx.close();
    return encodeWav(audio);
  } catch (err) {
    return null;
  }
}

function encodeWav(audio) {
  const n = audio.length, rate = audio.sampleRate;
  const mono = new Float32Array(n);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const data = audio.getChannelData(c);
    for (let i = 0; i < n; i++) mono[i] += data[i] / audio.numberOfChannels;
  }
  const buffer = new ArrayBuffer(44 + 2 * n);
  const v = new DataView(buffer);
  const text = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  text(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); text(8, "WAVE");
  text(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true);
  v.setUint16(34, 16, true); text(36, "data"); v.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) {
    const s = Math.max(-1, Math.min(1, mono[i]));
    v.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

let recorder = null, chunks = [], timer = null;

async function toggleRecording() {
  const button = $("record");
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    setStatus("this browser cannot record (it needs MediaRecorder and a secure origin such as localhost)", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    setStatus("no microphone: " + err.message, true);
    return;
  }
  chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    clearInterval(timer);
    button.textContent = "● Record";
    button.classList.remove("recording");
    $("record-time").textContent = "";
    const wav = await toWav(await new Blob(chunks).arrayBuffer());
    if (!wav) { setStatus("this browser could not decode its own recording", true); return; }
    show(await predict(wav, "recording.wav"), "recording.wav");
  };
  recorder.start();
  const started = Date.now();
  button.textContent = "■ Stop";
  button.classList.add("recording");
  timer = setInterval(() => {
    $("record-time").textContent = `${((Date.now() - started) / 1000).toFixed(0)} s`;
  }, 250);
  setStatus("recording… press Stop to predict");
}

// ---------------------------------------------------------------- wiring
$("file-input").addEventListener("change", (e) => { if (e.target.files[0]) handleFile(e.target.files[0]); });
$("record").addEventListener("click", toggleRecording);
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files[0]) handleFile(e.dataTransfer.files[0]);
});
loadModel();
