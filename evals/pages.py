"""How well the HTML loader reads saved news pages: evals/pages/NAME.html against NAME.json.

For each extractor, `index.loaders.load_html(path, extractor=NAME)` reads every page, scored on:
body precision / recall / F1 over word tokens (lowercased, split on non-word characters, counted
with multiplicity; micro-averaged over all pages, the mean of per-page F1, and per kind), and the
share of pages with the right date, author, title and site. "trafilatura-alone" is no loader's
extractor but the comparison: trafilatura's own text and metadata with its default settings
(comments left out, as the references leave them out), without the project's handling or cleaning.

    python -m evals.pages                               # plain, trafilatura alone, balanced, the reader
    python -m evals.pages --extractor plain --out DIR   # writes DIR/pages.json and DIR/pages.md
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from index.loaders import Article, load_html

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
REPORTS = HERE / "page-reports"
ALONE = "trafilatura-alone"
EXTRACTORS = ("plain", ALONE, "trafilatura-balanced", "trafilatura")
REQUIRED = ("kind", "title", "date", "author", "site", "body")
_WORD = re.compile(r"\w+")
_NAME_SEP = re.compile(r"\s*(?:,|;|&|\band\b)\s*", re.I)


# --- the reference pages ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    name: str
    kind: str
    title: str
    date: date | None
    author: str | None
    site: str | None
    body: str
    path: Path


def read_reference(json_path: Path) -> Reference:
    """One page's reference; ValueError naming the file if a key is missing or malformed."""
    html_path = json_path.with_suffix(".html")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{json_path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{json_path}: not a JSON object")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{json_path}: missing {', '.join(missing)}")
    for key in ("kind", "title", "body"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise ValueError(f"{json_path}: '{key}' must be a non-empty string")
    for key in ("author", "site", "date"):
        if data[key] is not None and (not isinstance(data[key], str) or not data[key].strip()):
            raise ValueError(f"{json_path}: '{key}' must be a non-empty string or null")
    try:
        day = date.fromisoformat(data["date"]) if data["date"] is not None else None
    except ValueError as exc:
        raise ValueError(f"{json_path}: date {data['date']!r} is not YYYY-MM-DD") from exc
    if not html_path.is_file():
        raise ValueError(f"{json_path}: no page {html_path.name} beside it")
    return Reference(
        name=json_path.stem,
        kind=data["kind"],
        title=data["title"],
        date=day,
        author=data["author"],
        site=data["site"],
        body=data["body"],
        path=html_path,
    )


def load_references(folder: Path = PAGES) -> list[Reference]:
    """Every page in `folder` with its reference, by name; ValueError if a page has none."""
    pages = sorted(folder.glob("*.html"))
    orphans = [p.name for p in pages if not p.with_suffix(".json").is_file()]
    if orphans:
        raise ValueError(f"pages without a reference .json: {', '.join(orphans)}")
    return [read_reference(p.with_suffix(".json")) for p in pages]


# --- metrics ---------------------------------------------------------------------------------


def tokens(text: str) -> Counter[str]:
    """The text's words, lowercased, with how often each occurs."""
    return Counter(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class Overlap:
    """Bag-of-words overlap of an extracted body with the reference body."""

    common: int
    predicted: int
    reference: int

    @property
    def precision(self) -> float:
        if not self.predicted:
            return 1.0 if not self.reference else 0.0
        return self.common / self.predicted

    @property
    def recall(self) -> float:
        if not self.reference:
            return 1.0 if not self.predicted else 0.0
        return self.common / self.reference

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Overlap) -> Overlap:
        return Overlap(
            self.common + other.common,
            self.predicted + other.predicted,
            self.reference + other.reference,
        )


def body_overlap(predicted: str, reference: str) -> Overlap:
    pred, ref = tokens(predicted), tokens(reference)
    return Overlap(sum((pred & ref).values()), sum(pred.values()), sum(ref.values()))


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def same_date(predicted: date | None, reference: date | None) -> bool:
    """Exactly the reference day; no date is right only when the reference has none."""
    if isinstance(predicted, datetime):
        predicted = predicted.date()
    return predicted == reference


def author_names(text: str | None) -> frozenset[str]:
    """The names in a byline string, split on commas, semicolons, '&' and 'and'."""
    if not text:
        return frozenset()
    return frozenset(n for n in (_norm(part) for part in _NAME_SEP.split(text)) if n)


def same_author(predicted: str | None, reference: str | None) -> bool:
    """The same set of names, case-insensitive; none is right only when the reference has none."""
    return author_names(predicted) == author_names(reference)


def same_text(predicted: str | None, reference: str | None) -> bool:
    """Equal after normalising whitespace and case; None (or empty) equals only None."""
    return _norm(predicted or "") == _norm(reference or "")


def same_title(predicted: str | None, reference: str) -> bool:
    return same_text(predicted, reference)


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class PageRow:
    name: str
    kind: str
    precision: float
    recall: float
    f1: float
    date_ok: bool
    author_ok: bool
    title_ok: bool
    site_ok: bool
    words_common: int
    words_extracted: int
    words_reference: int
    title: str | None = None
    date: str | None = None
    author: str | None = None
    site: str | None = None
    error: str | None = None


@dataclass
class ExtractorReport:
    extractor: str
    pages: int
    errors: int
    seconds: float
    summary: dict[str, float]
    per_kind: dict[str, dict[str, float]]
    rows: list[PageRow] = field(default_factory=list)


class NotAvailable(Exception):
    """The loader cannot run this extractor (yet)."""


def _takes_extractor(loader: Callable[..., Article]) -> bool:
    params = inspect.signature(loader).parameters.values()
    return any(p.name == "extractor" or p.kind is p.VAR_KEYWORD for p in params)


def trafilatura_alone(path: Path) -> Article:
    """The page as trafilatura reads it alone: `bare_extraction` with its default settings
    (comments left out), its text's lines as paragraphs, its metadata as it gives it."""
    import trafilatura
    from trafilatura.settings import Document

    doc = trafilatura.bare_extraction(path.read_bytes(), with_metadata=True, include_comments=False)
    if not isinstance(doc, Document):
        return Article(id=path.stem, title="", paragraphs=[], location=str(path))
    try:
        day = date.fromisoformat(doc.date[:10]) if doc.date else None
    except ValueError:
        day = None
    return Article(
        id=path.stem,
        title=doc.title or "",
        paragraphs=[line.strip() for line in (doc.text or "").splitlines() if line.strip()],
        date=day,
        source=doc.sitename or None,
        author=doc.author or None,
        location=str(path),
    )


def load_with(path: Path, extractor: str, loader: Callable[..., Article] = load_html) -> Article:
    """The page read by `loader` with this extractor (`ALONE`: by trafilatura alone, whatever the
    loader). A loader without the `extractor` keyword (before the trafilatura loader) is today's
    hand-written parser: it is run as "plain", and any other extractor is `NotAvailable`."""
    if extractor == ALONE:
        return trafilatura_alone(path)
    try:
        return loader(path, extractor=extractor)
    except TypeError:
        if _takes_extractor(loader):
            raise
    if extractor != "plain":
        raise NotAvailable(f"load_html takes no extractor= keyword yet: cannot run {extractor!r}")
    return loader(path)


def score_page(ref: Reference, article: Article | None, error: str | None = None) -> PageRow:
    text = "\n\n".join(article.paragraphs) if article else ""
    ov = body_overlap(text, ref.body)
    return PageRow(
        name=ref.name,
        kind=ref.kind,
        precision=ov.precision,
        recall=ov.recall,
        f1=ov.f1,
        date_ok=same_date(article.date if article else None, ref.date),
        author_ok=same_author(article.author if article else None, ref.author),
        title_ok=article is not None and same_title(article.title, ref.title),
        site_ok=same_text(article.source if article else None, ref.site),
        words_common=ov.common,
        words_extracted=ov.predicted,
        words_reference=ov.reference,
        title=article.title if article else None,
        date=article.date.isoformat() if article and article.date else None,
        author=article.author if article else None,
        site=article.source if article else None,
        error=error,
    )


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def summarise(rows: Sequence[PageRow]) -> dict[str, float]:
    micro = Overlap(0, 0, 0)
    for r in rows:
        micro += Overlap(r.words_common, r.words_extracted, r.words_reference)
    return {
        "precision": micro.precision,
        "recall": micro.recall,
        "f1": micro.f1,
        "mean_f1": _mean(r.f1 for r in rows),
        "date_accuracy": _mean(float(r.date_ok) for r in rows),
        "author_accuracy": _mean(float(r.author_ok) for r in rows),
        "title_accuracy": _mean(float(r.title_ok) for r in rows),
        "site_accuracy": _mean(float(r.site_ok) for r in rows),
    }


def score(
    extractor: str,
    refs: Sequence[Reference],
    loader: Callable[..., Article] = load_html,
) -> ExtractorReport:
    """Every page read with `extractor` and scored; a page the loader fails on scores nothing
    (its error is kept). `NotAvailable` if the loader cannot run this extractor at all."""
    rows: list[PageRow] = []
    started = time.perf_counter()
    for ref in refs:
        try:
            article = load_with(ref.path, extractor, loader)
        except NotAvailable:
            raise
        except Exception as exc:  # a loader failure is a score of zero for the page, not a crash
            rows.append(score_page(ref, None, f"{type(exc).__name__}: {exc}"))
            continue
        rows.append(score_page(ref, article))
    seconds = time.perf_counter() - started
    per_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({r.kind for r in rows}):
        of_kind = [r for r in rows if r.kind == kind]
        per_kind[kind] = {"pages": float(len(of_kind)), **summarise(of_kind)}
    return ExtractorReport(
        extractor=extractor,
        pages=len(rows),
        errors=sum(r.error is not None for r in rows),
        seconds=round(seconds, 3),
        summary=summarise(rows),
        per_kind=per_kind,
        rows=rows,
    )


# --- reports ---------------------------------------------------------------------------------

HEADLINE = (
    ("precision", "body precision (micro)"),
    ("recall", "body recall (micro)"),
    ("f1", "body F1 (micro)"),
    ("mean_f1", "body F1 (mean per page)"),
    ("date_accuracy", "date accuracy"),
    ("author_accuracy", "author accuracy"),
    ("title_accuracy", "title accuracy"),
    ("site_accuracy", "site accuracy"),
)


def _git() -> dict[str, Any]:
    def out(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = out("status", "--porcelain", "--", "index")
    return {
        "commit": out("rev-parse", "HEAD"),
        "index_modified": bool(status) if status is not None else None,
    }


def run(
    extractors: Sequence[str] = EXTRACTORS,
    pages: Path = PAGES,
    loader: Callable[..., Article] = load_html,
) -> dict[str, Any]:
    """Score each extractor on the pages: {"extractors": {name: report}, "skipped": {name: why}}."""
    refs = load_references(pages)
    reports: dict[str, ExtractorReport] = {}
    skipped: dict[str, str] = {}
    for name in extractors:
        try:
            rep = score(name, refs, loader)
        except NotAvailable as exc:
            skipped[name] = str(exc)
            continue
        errors = {r.error for r in rep.rows}
        if rep.rows and None not in errors and len(errors) == 1:  # e.g. an unknown extractor
            skipped[name] = f"every page failed: {errors.pop()}"
            continue
        reports[name] = rep
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git(),
        "pages": len(refs),
        "kinds": dict(sorted(Counter(r.kind for r in refs).items())),
        "extractors": {name: asdict(rep) for name, rep in reports.items()},
        "skipped": skipped,
    }


def _f(value: float) -> str:
    return f"{value:.3f}"


def table(report: dict[str, Any]) -> str:
    """The console table: headline metrics, then F1 per kind, one column per extractor."""
    names = list(report["extractors"])
    width = max([12, *(len(n) for n in names)])
    lines = [f"Saved news pages: {report['pages']} pages, {len(report['kinds'])} kinds"]
    if names:
        lines.append(f"{'':26}" + "".join(f"{n:>{width + 2}}" for n in names))
        for key, label in HEADLINE:
            cells = [_f(report["extractors"][n]["summary"][key]) for n in names]
            lines.append(f"{label:26}" + "".join(f"{c:>{width + 2}}" for c in cells))
        cells = [str(report["extractors"][n]["errors"]) for n in names]
        lines.append(
            f"{'pages the loader failed on':26}" + "".join(f"{c:>{width + 2}}" for c in cells)
        )
        cells = [f"{report['extractors'][n]['seconds']:.2f}" for n in names]
        lines.append(f"{'seconds':26}" + "".join(f"{c:>{width + 2}}" for c in cells))
        lines += [
            "",
            f"{'body F1 per kind (mean)':26}" + "".join(f"{n:>{width + 2}}" for n in names),
        ]
        for kind, count in report["kinds"].items():
            cells = [_f(report["extractors"][n]["per_kind"][kind]["mean_f1"]) for n in names]
            label = f"{kind} ({count})"
            lines.append(f"{label:26}" + "".join(f"{c:>{width + 2}}" for c in cells))
    for name, why in report["skipped"].items():
        lines.append(f"not run: {name}: {why}")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    names = list(report["extractors"])
    git = report["git"]
    out = [
        "# Saved news pages: HTML loader scores",
        "",
        f"{report['pages']} pages in `evals/pages` ({len(report['kinds'])} kinds), "
        f"{report['created']}, commit `{git.get('commit') or '?'}`"
        + (" with `index/` modified" if git.get("index_modified") else "")
        + ". Body scores are bag-of-words precision / recall / F1 over lowercased word tokens.",
        "",
    ]
    if names:
        out += ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for key, label in HEADLINE:
            out.append(
                f"| {label} | "
                + " | ".join(_f(report["extractors"][n]["summary"][key]) for n in names)
                + " |"
            )
        out.append(
            "| pages the loader failed on | "
            + " | ".join(str(report["extractors"][n]["errors"]) for n in names)
            + " |"
        )
        out += ["", "## Body F1 per kind (mean per page)", ""]
        out += ["| kind | pages | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
        for kind, count in report["kinds"].items():
            cells = [_f(report["extractors"][n]["per_kind"][kind]["mean_f1"]) for n in names]
            out.append(f"| {kind} | {count} | " + " | ".join(cells) + " |")
        out += ["", "## Per page", "", "F1, then date / author / title right (y) or wrong (-).", ""]
        out += ["| page | kind | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        by_name = {n: {r["name"]: r for r in report["extractors"][n]["rows"]} for n in names}
        for page in by_name[names[0]]:
            cells = []
            for n in names:
                r = by_name[n][page]
                marks = "".join("y" if r[k] else "-" for k in ("date_ok", "author_ok", "title_ok"))
                cells.append(f"{_f(r['f1'])} {marks}" + (" (error)" if r["error"] else ""))
            out.append(
                f"| {page} | {by_name[names[0]][page]['kind']} | " + " | ".join(cells) + " |"
            )
    for name, why in report["skipped"].items():
        out += ["", f"Not run: **{name}**: {why}"]
    return "\n".join(out) + "\n"


def write(report: dict[str, Any], out: Path = REPORTS) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "pages.json", out / "pages.md"
    js.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(markdown(report), encoding="utf-8")
    return js, md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.pages", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--extractor",
        action="append",
        metavar="NAME",
        help=f"extractor to score (repeatable; default: {' and '.join(EXTRACTORS)})",
    )
    ap.add_argument("--out", type=Path, default=REPORTS, help="folder for pages.json and pages.md")
    ap.add_argument("--pages", type=Path, default=PAGES, help="folder of NAME.html + NAME.json")
    args = ap.parse_args(argv)
    report = run(tuple(args.extractor or EXTRACTORS), args.pages)
    print(table(report))
    js, md = write(report, args.out)
    print(f"\nwrote {js} and {md}")
    return 0 if report["extractors"] else 1


if __name__ == "__main__":
    sys.exit(main())
