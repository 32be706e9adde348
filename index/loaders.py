"""Read article files into `Article` records: seed .txt, .md, .html, and .jsonl (also gzipped).

One record per article with a stable id, title, date, source, author and where it came from.
A file that cannot be read becomes a `LoadProblem` (reported, nothing else lost); a bad line in a
.jsonl file costs only that line. Cleaning is `index.clean`'s job; chunking and storing are not here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from index.clean import Cleaned, clean
from index.html import Page as WebPage
from index.html import extract_page
from rag.text.dates import parse_date

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".jsonl.gz", ".json")
MAX_FILE_BYTES = 50_000_000
HTML_MARKUP_FACTOR = 10  # a page's HTML may be this many times the longest article


@dataclass(frozen=True)
class Limits:
    """How much one file may make the loader do: the bytes it may expand to (a .gz may be a
    bomb), the longest line of a .jsonl, the records in one file, the longest article. Each
    refusal names the setting to raise (`names`)."""

    expanded_bytes: int = 4_000_000_000
    line_chars: int = 5_000_000
    records: int = 1_000_000
    article_chars: int = 1_000_000
    names: tuple[str, str, str, str] = (
        "RAG_INGEST__MAX_EXPANDED_BYTES",
        "RAG_INGEST__MAX_LINE_CHARS",
        "RAG_INGEST__MAX_RECORDS",
        "RAG_INGEST__MAX_ARTICLE_CHARS",
    )


DEFAULT_LIMITS = Limits()


class TooLarge(ValueError):
    """A file or article past one of the `Limits`."""


@dataclass
class Article:
    id: str
    title: str
    paragraphs: list[str]
    date: date | None = None
    source: str | None = None
    author: str | None = None
    location: str = ""  # file path, or url for data rows
    removed: list[str] = field(default_factory=list)
    # where the article came from is not where its id points (a web page naming another URL its
    # canonical): it may be added under that id, never replace what is indexed there
    alias_of: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass
class LoadProblem:
    location: str
    message: str


def _file_id(path: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-") or "article"
    return slug[:80]


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise ValueError("binary file, not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _from_cleaned(art_id: str, c: Cleaned, location: str) -> Article:
    return Article(
        id=art_id,
        title=c.title or art_id,
        paragraphs=c.paragraphs,
        date=c.date,
        source=c.source,
        author=c.author,
        location=location,
        removed=c.removed,
    )


def _bounded(text: str, limits: Limits) -> str:
    if len(text) > limits.article_chars:
        raise TooLarge(
            f"the article has {len(text):,} characters; the limit is {limits.article_chars:,} "
            f"({limits.names[3]}): split it or raise the limit"
        )
    return text


def load_txt(path: Path, limits: Limits = DEFAULT_LIMITS) -> Article:
    return _from_cleaned(_file_id(path), clean(_bounded(_decode(path), limits)), str(path))


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def load_md(path: Path, limits: Limits = DEFAULT_LIMITS) -> Article:
    text = _bounded(_decode(path), limits)
    title = None
    front = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    meta: dict[str, str] = {}
    if front:
        for line in front[1].splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                meta[k.strip().lower()] = v.strip().strip("\"'")
        text = text[front.end() :]
    lines = []
    for line in text.splitlines():
        h = re.match(r"^#{1,6}\s+(.*)", line)
        if h and title is None:
            title = h[1].strip()
            continue
        line = re.sub(r"^#{1,6}\s+", "", line)
        line = _MD_LINK.sub(lambda m: m[1], line)
        line = re.sub(r"(\*\*|__|\*|_|`)(\S.*?\S|\S)\1", r"\2", line)
        line = re.sub(r"^\s*[-*+>]\s+", "", line)
        lines.append(line)
    c = clean("\n".join(lines), title=meta.get("title") or title)
    c.date = c.date or parse_date(meta.get("date"))
    c.author = c.author or meta.get("author")
    c.source = c.source or meta.get("source")
    return _from_cleaned(_file_id(path), c, str(path))


def load_html(
    path: Path, limits: Limits = DEFAULT_LIMITS, *, extractor: str = "trafilatura"
) -> Article:
    """A saved web page: its main text and metadata (see `index.html`)."""
    html = _bounded_html(_decode(path), limits)
    return article_from_html(html, _file_id(path), str(path), limits=limits, extractor=extractor)


def _bounded_html(html: str, limits: Limits) -> str:
    """A page may carry markup several times its text; past that, it is refused like an article."""
    if len(html) > HTML_MARKUP_FACTOR * limits.article_chars:
        raise TooLarge(
            f"the page has {len(html):,} characters of HTML; the limit is "
            f"{HTML_MARKUP_FACTOR} x {limits.article_chars:,} ({limits.names[3]}): "
            "raise the limit to read it"
        )
    return html


def article_from_html(
    html: str,
    art_id: str,
    location: str,
    *,
    url: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    extractor: str = "trafilatura",
) -> Article:
    """The article in a page's HTML: main text cleaned like other text formats, with the page's
    headline, date, author and site name."""
    return article_from_page(
        extract_page(html, url=url, extractor=extractor), art_id, location, limits
    )


def article_from_page(
    page: WebPage, art_id: str, location: str, limits: Limits = DEFAULT_LIMITS
) -> Article:
    """An `Article` from what `index.html.extract_page` found."""
    c = clean(_bounded(page.text, limits), title=page.title)
    c.date = page.date or c.date
    c.author = page.author or c.author
    c.source = page.site or c.source
    return _from_cleaned(art_id, c, location)


def _host(url: str) -> str | None:
    host = urlparse(url).hostname or ""
    return host.removeprefix("www.") or None


def article_from_record(
    rec: dict[str, object], location: str, limits: Limits = DEFAULT_LIMITS
) -> Article:
    """One JSON object (the RealTimeQA corpus shape) to an Article; KeyError/ValueError if unusable."""
    text = rec.get("text") or rec.get("body") or rec.get("content")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no 'text' or 'body'")
    _bounded(text, limits)
    url = str(rec.get("url") or "")
    title = str(rec.get("title") or "").strip() or None
    art_id = str(rec.get("id") or "").strip()
    if not art_id:
        basis = url or f"{title}\n{text[:2000]}"
        art_id = "a-" + hashlib.sha1(basis.encode()).hexdigest()[:12]
    c = clean(text, title=title)
    c.date = (
        parse_date(rec.get("published"))
        or parse_date(rec.get("published_at"))
        or parse_date(rec.get("date"))
        or c.date
    )
    authors = rec.get("authors") or rec.get("author")
    if isinstance(authors, list):
        authors = ", ".join(str(a) for a in authors if a)
    c.author = str(authors) if authors else c.author
    c.source = str(rec.get("source") or "") or (_host(url) if url else None) or c.source
    return _from_cleaned(art_id, c, url or location)


def load_jsonl(path: Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Article | LoadProblem]:
    """The records of a .jsonl (or .jsonl.gz, or .json) file, read within `limits`: a line past
    the longest is skipped, and reading stops at the record or expanded-size limit, each with a
    problem that says so."""
    opener = gzip.open if path.name.endswith(".gz") else open
    expanded_name, line_name, records_name = limits.names[:3]
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            if path.suffix == ".json":
                raw = fh.read(min(limits.expanded_bytes, limits.line_chars) + 1)
                if len(raw) > min(limits.expanded_bytes, limits.line_chars):
                    yield LoadProblem(
                        str(path),
                        f"larger than {min(limits.expanded_bytes, limits.line_chars):,} characters "
                        f"({expanded_name} / {line_name}): nothing read; use .jsonl, one article "
                        "per line",
                    )
                    return
                data = json.loads(raw)
                rows = data if isinstance(data, list) else [data]
                for n, rec in enumerate(rows[: limits.records], 1):
                    yield _record(rec, f"{path}:{n}", limits)
                if len(rows) > limits.records:
                    yield LoadProblem(str(path), _too_many(limits.records, records_name))
                return
            records = 0
            try:
                for n, line in bounded_lines(fh, limits):
                    if line is None:
                        yield LoadProblem(
                            f"{path}:{n}",
                            f"longer than {limits.line_chars:,} characters ({line_name}): skipped",
                        )
                        continue
                    if records >= limits.records:
                        yield LoadProblem(str(path), _too_many(limits.records, records_name))
                        return
                    records += 1
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield LoadProblem(f"{path}:{n}", f"not valid JSON ({exc.msg})")
                        continue
                    except RecursionError:  # the others of the file are read all the same
                        yield LoadProblem(f"{path}:{n}", TOO_DEEP)
                        continue
                    yield _record(rec, f"{path}:{n}", limits)
            except TooLarge as exc:
                yield LoadProblem(str(path), str(exc))
    except (OSError, EOFError, json.JSONDecodeError) as exc:
        yield LoadProblem(str(path), f"cannot read: {exc}")
    except RecursionError:
        yield LoadProblem(str(path), TOO_DEEP)


BLOCK = 1 << 20
TOO_DEEP = "not read: its JSON is nested too deeply to be an article"


def bounded_lines(fh: IO[str], limits: Limits) -> Iterator[tuple[int, str | None]]:
    """(line number, line) for each line of the text stream that is not blank; None for a line
    longer than `limits.line_chars`, blank or not (not kept). Read in blocks and searched by a
    regex, so a flood of empty lines costs little; raises `TooLarge` once more than
    `limits.expanded_bytes` have been read."""
    # a line with something on it, or one too long (blank or not: reported, not kept)
    wanted = re.compile(rf"[^\n]*\S[^\n]*|[^\n]{{{limits.line_chars + 1},}}")
    read = lines = 0  # characters read; newlines before the text being searched
    carry = ""  # the line the previous block ended inside
    skipping = False  # inside a line already found too long
    while True:
        if read > limits.expanded_bytes:  # checked after a block's lines were given
            raise TooLarge(
                f"expands past {limits.expanded_bytes:,} bytes ({limits.names[0]}): nothing after "
                f"line {lines} was read"
            )
        block = fh.read(BLOCK)
        read += len(block)
        text = carry + block if block else carry + "\n"
        cut = text.rfind("\n")
        if cut < 0:  # still inside one line
            carry = "" if skipping else text
            if len(carry) > limits.line_chars:
                skipping, carry = True, ""
            continue
        done, carry = text[: cut + 1], text[cut + 1 :]
        at = 0
        if skipping:  # the rest of a long line
            at = done.find("\n") + 1
            lines += 1
            yield lines, None
            skipping = False
        base = lines
        # a block of blank lines, none of them too long, is only counted (the regex stepped
        # through a megabyte of newlines a character at a time: seconds of a server's CPU)
        blank = len(done) - at <= limits.line_chars and done[at:].isspace()
        for m in () if blank else wanted.finditer(done, at):
            lines = base + done.count("\n", at, m.start())
            base, at = lines, m.start()
            line = m.group()
            yield lines + 1, (None if len(line) > limits.line_chars else line)
        lines = base + done.count("\n", at)
        if len(carry) > limits.line_chars:
            skipping, carry = True, ""
        if not block:
            return


def _too_many(limit: int, name: str) -> str:
    return f"more than {limit:,} records ({name}): the rest of the file was not read"


def _record(rec: object, location: str, limits: Limits) -> Article | LoadProblem:
    if not isinstance(rec, dict):
        return LoadProblem(location, "not a JSON object")
    try:
        return article_from_record(rec, location, limits)
    except (KeyError, ValueError) as exc:
        return LoadProblem(location, f"skipped: {exc}")


_LOADERS = {
    ".txt": load_txt,
    ".md": load_md,
    ".markdown": load_md,
    ".html": load_html,
    ".htm": load_html,
}


def _is_supported(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[LoadProblem]]:
    """The article files under the given files and folders, sorted for a stable order."""
    files: list[Path] = []
    problems: list[LoadProblem] = []
    for p in paths:
        if p.is_dir():
            files.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file()
                and _is_supported(f)
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            if _is_supported(p):
                files.append(p)
            else:
                problems.append(
                    LoadProblem(str(p), f"unsupported file type; use one of {', '.join(SUFFIXES)}")
                )
        else:
            problems.append(LoadProblem(str(p), "no such file or folder"))
    return files, problems


def load(path: Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Article | LoadProblem]:
    """Every article in one file (many for .jsonl), or the problem that stopped it."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES and not path.name.endswith((".jsonl", ".gz")):
            yield LoadProblem(str(path), f"larger than {MAX_FILE_BYTES // 1_000_000} MB")
            return
        if path.name.endswith((".jsonl", ".jsonl.gz", ".json")):
            yield from load_jsonl(path, limits)
            return
        article = _LOADERS[path.suffix.lower()](path, limits)
    except (OSError, ValueError, KeyError) as exc:
        yield LoadProblem(str(path), f"cannot read: {exc}")
        return
    if not article.paragraphs:
        yield LoadProblem(str(path), "no article text left after cleaning")
        return
    yield article
