"""A study's comparison table: every system's WA/UA and its paired statistics against one.

:func:`write_study_table` reads each finished system's run-level ``metrics.json`` (fold
mean ± sample std and pooled WA/UA, exactly the numbers its own report gives) and, for the
systems whose runs are complete, :func:`sertk.eval.compare.compare_runs` against the
reference (Wilcoxon signed-rank over per-fold UA differences, paired bootstrap 95 % CI of
the pooled-UA difference). A failed system keeps its row, with the reason. Writes
``comparison.md`` and ``comparison.json`` (same numbers; rates as fractions, differences in
UA points) into the study's folder.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from sertk.eval.compare import N_BOOT, compare_runs, load_run
from sertk.eval.metrics import SUMMARY_KEYS
from sertk.eval.report import _mean_std, _pct, markdown_table, read_metrics
from sertk.eval.rundir import atomic_write, write_json

STUDY_MD = "comparison.md"
STUDY_JSON = "comparison.json"


@dataclass(frozen=True)
class SystemRun:
    """One system of a study: its run directory, or why it has none (``error``)."""

    name: str
    model: str
    run_dir: Path
    error: str = ""


def study_results(systems: Sequence[SystemRun], reference: str, *, n_boot: int = N_BOOT,
                  seed: int = 0) -> dict:
    """The table as a dict: ``systems`` (one entry per system, in order) and the settings."""
    rows = []
    for system in systems:
        row = {"name": system.name, "model": system.model, "run": str(system.run_dir),
               "status": "failed" if system.error else "ok", "error": system.error or None}
        if not system.error:
            m = read_metrics(system.run_dir)
            row.update(protocol=m["protocol"], n_folds=m["n_folds"], complete=m["complete"],
                       **{part: {k: m[part][k] for k in SUMMARY_KEYS}
                          for part in ("mean", "std", "pooled")})
        row["vs_reference"] = None
        rows.append(row)
    note = _compare(rows, reference, n_boot, seed)
    return {"reference": reference, "n_boot": n_boot, "bootstrap_seed": seed,
            "comparison_note": note, "systems": rows}


def render_study(results: dict) -> str:
    """Markdown of :func:`study_results`' dict."""
    reference = results["reference"]
    header = ["system", "model", "folds", "WA (%)", "UA (%)", "pooled WA (%)", "pooled UA (%)",
              "Δ UA fold mean", "wins/losses", "Wilcoxon p", "Δ pooled UA",
              "bootstrap 95 % CI"]
    rows = []
    for row in results["systems"]:
        name = row["name"] + (" (reference)" if row["name"] == reference else "")
        if row["status"] != "ok":
            rows.append([name, row["model"], f"**failed**: {row['error']}",
                         *["–"] * (len(header) - 3)])
            continue
        c = row["vs_reference"]
        stats = ["–"] * 5 if c is None else [
            f"{c['mean_diff']:+.2f}", f"{c['wins']}/{c['losses']}",
            "n/a" if c["wilcoxon_p"] is None else f"{c['wilcoxon_p']:.3f}",
            f"{c['pooled_diff']:+.2f}", f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]"]
        folds = str(row["n_folds"]) + ("" if row["complete"] else " (partial)")
        rows.append([name, row["model"], folds, _mean_std(row, "wa"), _mean_std(row, "ua"),
                     _pct(row["pooled"]["wa"]), _pct(row["pooled"]["ua"]), *stats])
    protocols = sorted({r["protocol"] for r in results["systems"] if r["status"] == "ok"})
    lines = ["# Study", "",
             f"Protocol: {', '.join(protocols) or '–'}; every system on the same folds and "
             f"seed. WA/UA in %: mean ± sample std across folds, and pooled over all test "
             f"predictions. Against the reference ({reference}), in UA points: the mean "
             "per-fold difference, folds won/lost, the two-sided Wilcoxon signed-rank p over "
             "per-fold differences (zero differences dropped) and the paired bootstrap 95 % "
             f"interval of the pooled difference ({results['n_boot']} resamples of the test "
             "utterances).", "", markdown_table(header, rows, align="ll" + "r" * 10)]
    if results["comparison_note"]:
        lines += ["", results["comparison_note"]]
    return "\n".join(lines) + "\n"


def write_study_table(systems: Sequence[SystemRun], reference: str, out_dir: str | Path, *,
                      n_boot: int = N_BOOT, seed: int = 0) -> Path:
    """Write ``comparison.md`` and ``comparison.json`` into ``out_dir``; returns the .md."""
    results = study_results(systems, reference, n_boot=n_boot, seed=seed)
    out_dir = Path(out_dir)
    write_json(out_dir / STUDY_JSON, results)
    return atomic_write(out_dir / STUDY_MD, render_study(results))


def _compare(rows: list[dict], reference: str, n_boot: int, seed: int) -> str:
    """Fill each comparable row's ``vs_reference``; returns a note on what was left out."""
    ref = next(r for r in rows if r["name"] == reference)
    if ref["status"] != "ok" or not ref["complete"]:
        why = "failed" if ref["status"] != "ok" else "has missing folds"
        return f"No paired statistics: the reference {reference} {why}."
    others = [r for r in rows if r["status"] == "ok" and r is not ref]
    partial = [r["name"] for r in others if not r["complete"]]
    others = [r for r in others if r["complete"]]
    if others:
        runs = [load_run(r["run"], r["name"]) for r in [ref, *others]]
        for row, comparison in zip(others, compare_runs(runs, n_boot=n_boot, seed=seed)):
            row["vs_reference"] = {k: v for k, v in asdict(comparison).items()
                                   if k not in ("baseline", "system")}
    return (f"No paired statistics for {', '.join(partial)}: folds missing (the statistics "
            "need every fold)." if partial else "")

