"""Render bench/results/*.json as the Markdown tables of docs/performance.md.

    python bench/report.py                     # every result file, in a fixed order
    python bench/report.py bench/results/train_speed.json

Each table is followed by the run's machine line (CPU, cores, torch threads, load
average before -> after, commit), so a figure in the docs traces back to its JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchlib import RESULTS

ORDER = ("train_speed", "varlen_blstm", "infer_speed", "int8_accuracy", "flops",
         "features_speed", "scaling", "threads", "serve_load", "cli_startup")
COLUMNS = {
    "cli_startup": [("version", "version"), ("command", "command"), ("median_s", "s"),
                    ("ratio_vs_import_torch", "x `import torch`")],
    "train_speed": [("corpus", "corpus"), ("path", "training path"),
                    ("utt_per_s", "utt/s"), ("median_step_s", "s/step"),
                    ("ratio_vs_reference", "x reference"),
                    ("step_vs_equal", "step / equal-length twin"),
                    ("x_before", "x packed BLSTM (before)"),
                    ("x_paper_recipe", "step / paper recipe")],
    "varlen_blstm": [("scope", "scope"), ("batch", "batch"), ("total_frames", "real frames"),
                     ("padded_frames", "padded frames"), ("median_step_s", "s/step"),
                     ("ratio_vs_equal", "x equal length")],
    "infer_speed": [("engine", "engine"), ("inputs", "inputs"), ("padding", "padding"),
                    ("batch", "batch"), ("ms_per_clip", "ms/clip"),
                    ("x_realtime", "x real time"), ("wall_vs_equal", "time / equal-length twin")],
    "int8_accuracy": [("part", "part"), ("engine", "engine"), ("precision", "precision"),
                      ("batch", "batch"), ("clips", "clips"), ("ua", "UA"),
                      ("ua_change_points", "UA change, points"),
                      ("label_agreement", "same label as float32"),
                      ("max_abs_prob_diff", "max |prob. diff|"), ("ms_per_clip", "ms/clip"),
                      ("x_realtime", "x real time"), ("speedup_vs_float32", "x float32")],
    "flops": [("part", "part"), ("what", "what"), ("seconds", "s"),
              ("gflop", "GFLOP"), ("gflop_per_s", "GFLOP/s"),
              ("fraction_of_peak", "of matmul peak"), ("share", "share of step"),
              ("vs_float32", "x float32 step")],
    "features_speed": [("stage", "stage"), ("sertk_ms_per_clip", "sertk ms/clip"),
                       ("librosa_ms_per_clip", "librosa ms/clip"),
                       ("speedup_vs_librosa", "x librosa"),
                       ("sertk_x_realtime", "sertk x real time")],
    "scaling": [("part", "part"), ("audio_s", "audio s"), ("utterances", "utterances"),
                ("wall_s", "wall s"), ("ms_per_audio_s", "ms per audio s"),
                ("x_realtime", "x real time"), ("rss_start_mb", "RSS at start MB"),
                ("peak_rss_mb", "peak RSS MB"), ("wall_vs_equal", "time / equal-length twin")],
    "threads": [("machine", "machine"), ("threads", "threads"), ("environment", "environment"),
                ("train_step_2s_s", "train step 2 s, s"), ("train_step_4s_s", "train step 4 s, s"),
                ("infer_b32_4s_s", "infer 32 x 4 s, s"), ("infer_b1_4s_s", "infer 1 x 4 s, s")],
    "serve_load": [("workers", "workers"), ("pool", "slots/worker"), ("clients", "clients"),
                   ("requests", "requests"), ("ok", "200"), ("refused_503", "503"),
                   ("errors", "errors"), ("lost", "unanswered"), ("p50_ms", "p50 ms"),
                   ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"),
                   ("throughput_per_s", "clips/s"), ("peak_server_rss_mb", "peak server RSS MB")],
}


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def table(payload: dict) -> str:
    columns = COLUMNS.get(payload["benchmark"]) or [(k, k) for k in payload["rows"][0]]
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in payload["rows"]:
        lines.append("| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |")
    m = payload["machine"]
    lines.append("")
    lines.append(f"*{m['cpu']}, {m['cores']} cores, torch {m['torch']} with "
                 f"{m['torch_threads']} threads; load average {m['load_avg_start'][0]} -> "
                 f"{m['load_avg_end'][0]}; commit {m['commit']}"
                 f"{' (+ local changes)' if m.get('dirty') else ''}; {m['date']}; "
                 f"`python bench/{payload['benchmark']}.py {' '.join(payload['argv'])}`*")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path)
    args = p.parse_args(argv)
    files = args.files or [RESULTS / f"{name}.json" for name in ORDER
                           if (RESULTS / f"{name}.json").is_file()]
    for path in files:
        payload = json.loads(path.read_text())
        print(f"### {payload['benchmark']} ({path.name})\n")
        print(table(payload))
        print()


if __name__ == "__main__":
    main()
