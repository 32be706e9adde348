"""Show an evaluation: a console table, a JSON file, a Markdown and a self-contained HTML report,
and the comparison with an earlier run's JSON.

The JSON holds every per-question result plus the settings and models used (embedding model,
backend, model, chunk size, top_k, git commit) and a timestamp; it is what `--compare` reads.
The Markdown report draws its charts with text bars, the HTML report with inline SVG made here
(per-tag scores, the latency distribution); neither needs a plotting library or the network.
`compare()` lists, per metric, the questions that got better or worse and the aggregate deltas.

Nothing here runs the pipeline or computes a score (`evals.harness`, `evals.metrics`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.dataset import read_json
from evals.harness import STAGES, EvalRun
from rag.errors import RagError

# the columns of the per-tag table (and charts), in order
HEADLINE = (
    "hit_rate@5",
    "mrr@10",
    "key_fact_recall",
    "citation_validity",
    "citation_support",
    "decline_accuracy",
)
LOWER_IS_BETTER_PREFIX = "latency_"


def _tag_columns(overall: dict[str, Any]) -> list[str]:
    """The metrics shown per tag: the headline ones, and RealTimeQA's answer figures."""
    cols = [c for c in HEADLINE if c in overall]
    if "choice_correct" in overall:
        cols += ["answer_recall@5", "answer_recall@10", "choice_correct", "short_answer_correct"]
        cols += ["candidate_recall", "candidate_recall@3"]
    return cols


LATENCY_NOISE_S = 0.005  # latency deltas below 5 ms or 20 % are not called faster/slower
LATENCY_NOISE_REL = 0.2
_SKIP_DELTA = ("n", "errors", "declined", "reliability")


class ReportError(RagError):
    """An earlier report could not be read for --compare."""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _metric_names(run: EvalRun) -> list[str]:
    overall = run.aggregates["overall"]
    return [k for k in overall if k not in ("n", "errors", "declined", "reliability")]


# --- console ---------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def console_table(run: EvalRun) -> str:
    """The overall metrics, then one row per tag with the headline metrics."""
    m = run.meta
    overall = run.aggregates["overall"]
    head = (
        f"{run.dataset}: {overall['n']} questions, backend {run.backend} ({m.get('model')}), "
        f"embeddings {m.get('embedding_model')}, {m.get('retrieval_mode')} retrieval, "
        f"top_k {m.get('top_k')}, {m.get('seconds')} s"
    )
    rows = [[name, _fmt(overall[name])] for name in _metric_names(run)]
    rows.append(["declined", str(overall["declined"])])
    rows.append(["errors", str(overall["errors"])])
    parts = [head, "", _table(["metric", "overall"], rows)]
    tags = run.aggregates["tags"]
    if tags:
        cols = _tag_columns(overall)
        trows = [[t, str(a["n"]), *(_fmt(a.get(c)) for c in cols)] for t, a in tags.items()]
        parts += ["", _table(["tag", "n", *cols], trows)]
    if run.judges:
        j = run.judges
        parts += [
            "",
            "LLM judges (not deterministic, not gated): "
            f"faithfulness {_fmt(j.get('faithfulness'))}, correctness {_fmt(j.get('correctness'), 2)}/5 "
            f"(pass rate {_fmt(j.get('correctness_pass_rate'))}), {j.get('judged')} judged, "
            f"{j.get('errors')} judge errors; {j.get('note', '')}",
        ]
    for note in run.notes:
        parts.append(f"note: {note}")
    return "\n".join(parts)


# --- comparison ------------------------------------------------------------------------------------


@dataclass
class Comparison:
    old_label: str
    better: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    worse: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    deltas: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"compared with {self.old_label}: {len(self.worse)} question(s) worse, "
            f"{len(self.better)} better",
            "",
            "aggregate deltas (overall):",
        ]
        for metric, old, new in self.deltas:
            if old is None or new is None:
                lines.append(f"  {metric:<22} {_fmt(old):>7} -> {_fmt(new):>7}")
                continue
            d = new - old
            verdict = ""
            if metric.startswith(LOWER_IS_BETTER_PREFIX):
                # timings wobble from run to run: only a clear change gets a verdict
                if abs(d) > max(LATENCY_NOISE_S, LATENCY_NOISE_REL * old):
                    verdict = "faster" if d < 0 else "slower"
            elif abs(d) > 1e-9:
                verdict = "better" if d > 0 else "worse"
            lines.append(f"  {metric:<22} {old:7.3f} -> {new:7.3f}  {d:+.3f}  {verdict}")
        for title, group in (("worse", self.worse), ("better", self.better)):
            lines.append("")
            lines.append(f"{title}: {len(group)} question(s)")
            for qid, changes in group.items():
                what = "; ".join(f"{m} {_fmt(o, 2)} -> {_fmt(n, 2)}" for m, o, n in changes)
                lines.append(f"  {qid}: {what}")
        if self.added:
            lines.append(f"\nnew questions (not in the old run): {', '.join(self.added)}")
        if self.removed:
            lines.append(f"questions no longer run: {', '.join(self.removed)}")
        return "\n".join(lines)


def load_run(path: Path) -> dict[str, Any]:
    """An earlier run's JSON report (as written by `write_reports`)."""
    data = read_json(path, ReportError, "the report to compare with")
    if not isinstance(data, dict) or "results" not in data or "aggregates" not in data:
        raise ReportError(f"{path} is not a `rag eval` JSON report (no results/aggregates)")
    return data


def compare(old: Mapping[str, Any], new: Mapping[str, Any], old_label: str = "") -> Comparison:
    """Per question and metric, what got better or worse; and the overall aggregate deltas.
    Per-question latency is left out (it is noise at that grain; the aggregates show it)."""
    meta = old.get("meta", {})
    label = old_label or f"the run of {meta.get('timestamp', '?')}"
    if meta.get("git_commit"):
        label += f" (commit {str(meta['git_commit'])[:10]})"
    if old.get("dataset") != new.get("dataset") or old.get("backend") != new.get("backend"):
        label += (
            f" [careful: that run was {old.get('dataset')}/{old.get('backend')}, this one is "
            f"{new.get('dataset')}/{new.get('backend')}]"
        )
    cmp = Comparison(old_label=label)
    old_res = {r["id"]: r for r in old.get("results", [])}
    new_res = {r["id"]: r for r in new.get("results", [])}
    cmp.added = [q for q in new_res if q not in old_res]
    cmp.removed = [q for q in old_res if q not in new_res]
    for qid, nr in new_res.items():
        orr = old_res.get(qid)
        if orr is None:
            continue
        for metric, nv in nr.get("scores", {}).items():
            ov = orr.get("scores", {}).get(metric)
            if ov is None or nv is None or abs(float(nv) - float(ov)) < 1e-9:
                continue
            group = cmp.better if nv > ov else cmp.worse
            group.setdefault(qid, []).append((metric, float(ov), float(nv)))
    o_all = old.get("aggregates", {}).get("overall", {})
    n_all = new.get("aggregates", {}).get("overall", {})
    for metric in n_all:
        if metric in _SKIP_DELTA:
            continue
        ov, nv = o_all.get(metric), n_all.get(metric)
        cmp.deltas.append(
            (metric, None if ov is None else float(ov), None if nv is None else float(nv))
        )
    return cmp


# --- charts ----------------------------------------------------------------------------------------


def text_bar(value: float | None, width: int = 20, top: float = 1.0) -> str:
    """A bar of block characters, e.g. '████████▌           ' for 0.425 of 1."""
    if value is None or top <= 0:
        return " " * width
    cells = max(0.0, min(1.0, value / top)) * width
    full = int(cells)
    half = "▌" if cells - full >= 0.5 and full < width else ""
    return ("█" * full + half).ljust(width)


def histogram(values: Sequence[float], bins: int = 8) -> list[tuple[float, float, int]]:
    """Equal-width bins over [min, max]: (low, high, count)."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if math.isclose(lo, hi):
        return [(lo, hi, len(values))]
    step = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / step), bins - 1)] += 1
    return [(lo + i * step, lo + (i + 1) * step, c) for i, c in enumerate(counts)]


def svg_bars(title: str, items: Sequence[tuple[str, float | None, str]], top: float = 1.0) -> str:
    """A horizontal bar chart as inline SVG: (label, value, shown text) per bar."""
    bar_h, gap, label_w, bar_w = 18, 6, 170, 300
    height = 28 + len(items) * (bar_h + gap)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" '
        f'height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="0" y="16" font-weight="bold" font-size="13">{html.escape(title)}</text>',
    ]
    for i, (label, value, shown) in enumerate(items):
        y = 26 + i * (bar_h + gap)
        w = 0 if value is None or top <= 0 else max(0.0, min(1.0, value / top)) * bar_w
        out.append(
            f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{html.escape(label)}</text>"
        )
        out.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{bar_h}" fill="#eee"/>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#3b7dd8"/>')
        out.append(
            f'<text x="{label_w + bar_w + 6}" y="{y + 13}" font-size="12">{html.escape(shown)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


# --- files -----------------------------------------------------------------------------------------


def _latencies(run: EvalRun, stage: str = "total") -> list[float]:
    return [r.timings[stage] for r in run.results if stage in r.timings]


def markdown(run: EvalRun, comparison: Comparison | None = None) -> str:
    m = run.meta
    overall = run.aggregates["overall"]
    lines = [
        f"# Evaluation: {run.dataset} ({run.backend})",
        "",
        "| | |",
        "|---|---|",
        f"| when | {m.get('timestamp')} |",
        f"| git commit | {m.get('git_commit') or 'unknown'} |",
        f"| questions | {overall['n']} ({overall['errors']} errors) in {m.get('seconds')} s |",
        f"| answer backend / model | {run.backend} / {m.get('model')} |",
        f"| embedding model | {m.get('embedding_model')} |",
        f"| retrieval | {m.get('retrieval_mode')}, top_k {m.get('top_k')}, metrics at k = "
        f"{', '.join(str(k) for k in m.get('retrieval_ks', []))} |",
        f"| chunks | {m.get('chunk_size')} tokens, overlap {m.get('chunk_overlap')}; "
        f"{m.get('chunks_indexed')} indexed in {m.get('store')} |",
        "",
    ]
    for note in run.notes:
        lines.append(f"> {note}")
    lines += ["", "## Overall", "", "| metric | value | |", "|---|---:|---|"]
    for name in _metric_names(run):
        v = overall[name]
        bar = "" if name.startswith("latency_") else f"`{text_bar(v)}`"
        lines.append(f"| {name} | {_fmt(v)} | {bar} |")
    tags = run.aggregates["tags"]
    if tags:
        cols = _tag_columns(overall)
        lines += ["", "## Per tag", "", "| tag | n | " + " | ".join(cols) + " |"]
        lines.append("|---|---:|" + "---:|" * len(cols))
        for t, a in tags.items():
            lines.append(f"| {t} | {a['n']} | " + " | ".join(_fmt(a.get(c)) for c in cols) + " |")
        for c in cols:
            lines += ["", f"**{c}** by tag", "", "```"]
            width = max(len(t) for t in tags)
            for t, a in tags.items():
                lines.append(f"{t.ljust(width)}  {text_bar(a.get(c), 30)}  {_fmt(a.get(c))}")
            lines.append("```")
    lat = _latencies(run)
    if lat:
        lines += ["", "## Latency", "", "| stage | p50 s | p95 s |", "|---|---:|---:|"]
        for stage in STAGES:
            lines.append(
                f"| {stage} | {_fmt(overall.get(f'latency_{stage}_p50'))} | "
                f"{_fmt(overall.get(f'latency_{stage}_p95'))} |"
            )
        hist = histogram(lat)
        top = max(count for _, _, count in hist)
        lines += ["", "Total seconds per question:", "", "```"]
        for lo, hi, count in hist:
            lines.append(f"{lo:6.3f}–{hi:6.3f}  {text_bar(count, 30, top)}  {count}")
        lines.append("```")
    if run.judges:
        j = run.judges
        lines += [
            "",
            "## LLM judges (not deterministic, not gated)",
            "",
            f"{j.get('note', '')}",
            "",
            f"- faithfulness: {_fmt(j.get('faithfulness'))}",
            f"- correctness: {_fmt(j.get('correctness'), 2)} / 5 "
            f"(pass rate {_fmt(j.get('correctness_pass_rate'))})",
            f"- judged: {j.get('judged')}, judge errors: {j.get('errors')}",
        ]
    if comparison is not None:
        lines += ["", "## Compared with an earlier run", "", "```", comparison.render(), "```"]
    per_q = [c for c in HEADLINE if c in overall]
    lines += ["", "## Questions", "", "| id | tags | " + " | ".join(per_q) + " | problems |"]
    lines.append("|---|---|" + "---:|" * len(per_q) + "---|")
    for r in run.results:
        probs = "; ".join(r.problems)[:200].replace("|", "\\|")
        lines.append(
            f"| {r.id} | {', '.join(r.tags)} | "
            + " | ".join(_fmt(r.scores.get(c), 2) for c in per_q)
            + f" | {probs} |"
        )
    return "\n".join(lines) + "\n"


def html_report(run: EvalRun, comparison: Comparison | None = None) -> str:
    m = run.meta
    overall = run.aggregates["overall"]
    tags = run.aggregates["tags"]
    esc = html.escape
    body = [
        f"<h1>Evaluation: {esc(run.dataset)} ({esc(run.backend)})</h1>",
        "<p>"
        + esc(
            f"{m.get('timestamp')} · commit {m.get('git_commit') or 'unknown'} · "
            f"{overall['n']} questions in {m.get('seconds')} s · model {m.get('model')} · "
            f"embeddings {m.get('embedding_model')} · {m.get('retrieval_mode')} retrieval, "
            f"top_k {m.get('top_k')} · chunks {m.get('chunk_size')} tokens"
        )
        + "</p>",
    ]
    for note in run.notes:
        body.append(f"<p><em>{esc(note)}</em></p>")
    scores = [n for n in _metric_names(run) if not n.startswith("latency_")]
    body.append(svg_bars("Overall", [(n, overall[n], _fmt(overall[n])) for n in scores]))
    charts = [
        svg_bars(f"{c} by tag", [(t, a.get(c), _fmt(a.get(c))) for t, a in tags.items()])
        for c in HEADLINE
        if c in overall and tags
    ]
    body.append('<div class="charts">' + "\n".join(charts) + "</div>")
    lat = _latencies(run)
    if lat:
        hist = histogram(lat)
        top = float(max(c for _, _, c in hist))
        body.append(
            svg_bars(
                "Latency: questions per total-seconds bin",
                [(f"{lo:.3f}–{hi:.3f} s", float(c), str(c)) for lo, hi, c in hist],
                top,
            )
        )
        body.append(
            "<p>"
            + esc(
                " · ".join(
                    f"{s} p50 {_fmt(overall.get(f'latency_{s}_p50'))} s, "
                    f"p95 {_fmt(overall.get(f'latency_{s}_p95'))} s"
                    for s in STAGES
                )
            )
            + "</p>"
        )
    if overall.get("reliability"):
        rel = overall["reliability"]
        body.append(
            svg_bars(
                "Calibration: how often right, by the confidence said "
                f"(ECE {_fmt(overall.get('confidence_ece'))}; said as sure for "
                f"{_fmt(overall.get('sure_share'))} of the questions, right "
                f"{_fmt(overall.get('sure_right'))} of those)",
                [(f"said {b['bin']} (n={b['n']})", b["right"], _fmt(b["right"])) for b in rel],
                1.0,
            )
        )
    if run.judges:
        body.append(f"<h2>LLM judges</h2><pre>{esc(json.dumps(run.judges, indent=2))}</pre>")
    if comparison is not None:
        body.append(f"<h2>Compared with an earlier run</h2><pre>{esc(comparison.render())}</pre>")
    cols = [c for c in HEADLINE if c in overall]
    rows = "".join(
        "<tr><td>"
        + esc(r.id)
        + "</td><td>"
        + esc(", ".join(r.tags))
        + "</td>"
        + "".join(f"<td>{_fmt(r.scores.get(c), 2)}</td>" for c in cols)
        + f"<td>{esc(r.response[:300])}</td><td>{esc('; '.join(r.problems))}</td></tr>"
        for r in run.results
    )
    body.append(
        "<h2>Questions</h2><table><tr><th>id</th><th>tags</th>"
        + "".join(f"<th>{esc(c)}</th>" for c in cols)
        + f"<th>answer</th><th>problems</th></tr>{rows}</table>"
    )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "svg{display:block;margin:1em 0}.charts{display:flex;flex-wrap:wrap;column-gap:2em}"
        "table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{esc(run.dataset)} evaluation</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_reports(
    run: EvalRun, out_dir: Path, comparison: Comparison | None = None
) -> dict[str, Path]:
    """Write `<dataset>-<backend>-<timestamp>.json/.md/.html` into out_dir; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = str(run.meta.get("timestamp", "")).replace(":", "").replace("-", "")[:15] or "run"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in run.dataset)
    base = out_dir / f"{safe}-{run.backend}-{stamp}"
    paths = {
        "json": base.with_suffix(".json"),
        "markdown": base.with_suffix(".md"),
        "html": base.with_suffix(".html"),
    }
    data = run.to_dict()
    if comparison is not None:
        data["comparison"] = {
            "with": comparison.old_label,
            "worse": comparison.worse,
            "better": comparison.better,
            "deltas": comparison.deltas,
        }
    paths["json"].write_text(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    paths["markdown"].write_text(markdown(run, comparison), encoding="utf-8")
    paths["html"].write_text(html_report(run, comparison), encoding="utf-8")
    return paths
