"""The `rag` command: ingest articles, search, ask, serve, evaluate.

Each subcommand's --help says what it does and which settings apply. Errors the user can fix are
printed as one line saying what to do next, with exit code 2; nothing prints a stack trace unless
RAG_DEBUG=1. The subcommands import their heavy parts lazily so `rag --help` is instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, LoaderError, RagError
from rag.settings import ANSWER_BACKENDS, RETRIEVAL_MODES

if TYPE_CHECKING:
    from index.ingest import IngestReport
    from rag.schema import Filters
    from rag.settings import Settings

EPILOG = """\
settings come from the environment and .env (see .env.example), e.g.
  RAG_LLM__BACKEND=openai RAG_LLM__BASE_URL=http://127.0.0.1:8080/v1 rag ask "..."
examples:
  rag ingest seeds/                 index the demo articles
  rag ingest https://example.org/feed.xml   a feed's articles (again later: only new ones)
  rag ingest --watch inbox/         index files as they arrive, change or go (Ctrl-C stops)
  rag remove ARTICLE_ID             take an article out of the index
  rag check --repair                the index and its ledger agree (or are made to)
  rag entities                      tag every sentence's named entities now (faster answers)
  rag search "What did Hegseth say about 5%?" --json
  rag ask "What did Hegseth say about 5%?"
  rag serve                         web UI and HTTP API on http://127.0.0.1:7860
"""


def _period(value: str) -> float:
    from index.watch import parse_every

    try:
        return parse_every(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _date(value: str) -> date:
    from rag.text.dates import parse_day

    try:
        return parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-k", "--top-k", type=int, default=None, help="passages to return (RAG_RETRIEVAL__TOP_K, 5)"
    )
    p.add_argument("--date-from", type=_date, help="only articles published on or after YYYY-MM-DD")
    p.add_argument("--date-to", type=_date, help="only articles published on or before YYYY-MM-DD")
    p.add_argument("--source", action="append", help="only this source (repeat for several)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def parser() -> argparse.ArgumentParser:
    from rag.answering.backends import BACKENDS, REGISTRY

    ap = argparse.ArgumentParser(
        prog="rag",
        description="Question answering over news articles, with a citation for every claim.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--env-file", default=".env", help="settings file to read (default .env)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        help="add articles to the index (incremental)",
        description="Load, clean, deduplicate, chunk and embed articles into the index. Files: "
        ".txt (seed format), .md, .html (main text and metadata by trafilatura), .jsonl and "
        ".jsonl.gz (one article per line). URLs: web pages, and RSS/Atom feeds (each item's "
        "page is fetched); a URL ingested before is not fetched again unless --refresh "
        "(RAG_FETCH__* set timeouts, size cap, concurrency). Unchanged articles are skipped; "
        "changed ones are re-indexed; a repeated paragraph is indexed once.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH_OR_URL",
        help="files or folders of articles, page or feed URLs",
    )
    p.add_argument("--urls", type=Path, metavar="FILE", help="a file of URLs, one per line")
    p.add_argument(
        "--refresh", action="store_true", help="fetch URLs again even if they were ingested before"
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="after ingesting, keep following the folder given: new and changed files are "
        "ingested, deleted ones removed, within seconds (Ctrl-C stops)",
    )
    p.add_argument(
        "--prune", action="store_true", help="remove indexed articles that are not in PATHS"
    )
    p.add_argument("--rebuild", action="store_true", help="drop the index first and build it anew")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--limit", type=int, help="ingest only the first N articles (sorted by id)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser(
        "remove",
        help="take articles out of the index",
        description="Remove articles by id (`rag search --json` and GET /v1/articles show ids): "
        "their chunks, lexical entries and duplicate links go; a copy that shared paragraphs "
        "with one of them indexes those itself and still answers. Ingesting an article again "
        "restores it. Exit code 1 when an id is not found.",
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="article ids")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser(
        "check",
        help="check that the index and its ledger agree (--repair to fix)",
        description="Compare the ingestion ledger (what is indexed), the vector store and the "
        "lexical cache: articles missing from the store, chunks no article owns, empty or "
        "outdated chunks, articles whose shared paragraphs no article indexes. --repair deletes "
        "the debris and indexes the missing articles again from the text the ledger keeps (no "
        "source files needed). Exit code 0 when consistent (or repaired), 1 when not.",
    )
    p.add_argument("--repair", action="store_true", help="fix what is found")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser(
        "entities",
        help="tag the named entities of the index's sentences now (short answers read them)",
        description="Short answers are spans of the kind a question asks for (a person, a "
        "team, a number...), found by spaCy's named-entity tagger in the best sentences of the "
        "passages. Tagged while a question waits, that is most of an extractive answer's time; "
        "this tags every sentence of the index once, into the entity table in the store folder, and "
        "answers read it. `rag ingest` starts it aside after adding chunks "
        "(RAG_INGEST__TAG_ENTITIES); run it yourself to wait for it, with a progress bar. "
        "Stopped, it goes on where it was when run again. Answers are the same with or without "
        "it, only faster.",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="tagging processes at once (default: the machine's cores)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "search",
        help="show the passages retrieval ranks highest",
        description="Hybrid search (dense + BM25, fused) over the index.",
    )
    p.add_argument("question")
    _add_filters(p)
    p.add_argument("--mode", choices=RETRIEVAL_MODES, help="retrieval mode (RAG_RETRIEVAL__MODE)")

    p = sub.add_parser(
        "ask",
        help="answer a question with citations",
        description="Retrieve passages and answer with [n] citations, or say the articles don't say. "
        "A question that asks for a thing (who, which, where, when, how many) is answered with "
        "that thing first, copied from the articles. Backends: "
        + "; ".join(f"{name}: {b.help}" for name, b in REGISTRY.items())
        + "; auto: openai when a key or base URL is set, else extractive (local only when asked "
        "for).",
    )
    p.add_argument("question")
    _add_filters(p)
    p.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="ask as of this date (default today): later articles are not used, and 'this week', "
        "'last month', 'in June' in the question are read against it",
    )
    p.add_argument("--backend", choices=BACKENDS, help="answer backend (RAG_LLM__BACKEND, auto)")
    p.add_argument("--stream", action="store_true", help="print the answer as it is generated")

    p = sub.add_parser(
        "serve",
        help="web chat UI and HTTP API in one server",
        description="Serve the Gradio chat at / and the HTTP API at /v1 (OpenAPI docs at /docs). "
        "Ingests seeds/ first when the index is empty.",
    )
    p.add_argument("--host", help="address to listen on (RAG_SERVER__HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (RAG_SERVER__PORT, 7860)")
    p.add_argument(
        "--watch",
        type=Path,
        metavar="DIR",
        help="ingest the article files in DIR, then follow it: new and changed files are "
        "answerable within seconds, deleted ones stop being cited",
    )
    p.add_argument(
        "--feeds",
        type=Path,
        metavar="FILE",
        help="a file of feed (or page) URLs, one per line, polled --every period",
    )
    p.add_argument(
        "--every",
        type=_period,
        default="15m",
        metavar="PERIOD",
        help="how often --feeds are polled: 90s, 15m, 2h (default 15m)",
    )
    p.add_argument(
        "--answer-processes",
        type=int,
        metavar="N",
        help="make extractive answers in N more processes, from the passages the server finds, "
        "to answer on every core under load (RAG_SERVER__ANSWER_PROCESSES; default: one per "
        "core beyond the first; 0: answer in the server alone)",
    )

    p = sub.add_parser(
        "eval",
        help="score the pipeline on gold questions",
        description="Run a gold question set through the real pipeline and score retrieval, answers, "
        "citations and declining; writes JSON and Markdown reports.",
    )
    from evals.cli import add_arguments

    add_arguments(p)

    p = sub.add_parser(
        "collections",
        help="list, create or delete the store's collections",
        description="A store (RAG_STORE__PATH, or a Chroma server) holds collections, each its "
        "own archive: chunks, ledger, lexical index and entity table. Every other command works "
        "on one, `--collection NAME` (default RAG_STORE__COLLECTION); `rag ingest --collection "
        "NAME` makes it on first use too.",
    )
    p.add_argument("action", choices=["list", "create", "set", "delete"])
    p.add_argument("name", nargs="?", metavar="NAME", help="the collection (create, set, delete)")
    p.add_argument(
        "--backend",
        choices=[*ANSWER_BACKENDS, "default"],
        help="(create, set) the collection's own answer backend, over RAG_LLM__BACKEND "
        "('extractive' keeps its articles away from any LLM; 'default': the server's again)",
    )
    p.add_argument("--yes", action="store_true", help="delete without asking")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p = sub.add_parser(
        "keys",
        help="make, list or revoke the API keys of a collection",
        description="A key opens one collection: `read` asks questions and lists articles, "
        "`write` also adds and removes articles, `admin` also manages the collection's keys "
        "(over HTTP: /v1/collections/NAME/keys). A key is shown once, when made, and kept only "
        "as a digest; a running server takes a new or revoked key at once. Once any key exists "
        "(or RAG_SERVER__API_KEY is set, which opens everything), every caller needs one.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key (printed once)")
    create.add_argument(
        "--scope", choices=["read", "write", "admin"], default="read", help="default: read"
    )
    create.add_argument("--label", default="", help="who or what the key is for")
    listing = actions.add_parser("list", help="the keys' ids, scopes and labels (not the keys)")
    listing.add_argument("--all", action="store_true", help="the keys of every collection")
    revoke = actions.add_parser("revoke", help="remove a key: it opens nothing from then on")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (`rag keys list`)")
    revoke.add_argument("--all", action="store_true", help="whatever collection it is for")
    for action in (create, listing, revoke):
        action.add_argument("--json", action="store_true", help="print JSON instead of text")
        action.add_argument(
            "--collection",
            metavar="NAME",
            help="the collection the keys open (default RAG_STORE__COLLECTION, 'news')",
        )
    p = sub.add_parser(
        "feeds",
        help="the feeds a collection follows (read by rag serve)",
        description="A collection can follow feeds (RSS, Atom, or pages): a running `rag serve` "
        "reads each when due and adds its new items to the collection. Also in the chat "
        "(Add articles) and over HTTP (/v1/feeds).",
    )
    p.add_argument("action", choices=["add", "list", "remove"])
    p.add_argument("url", nargs="?", metavar="URL", help="(add, remove) the feed's address")
    p.add_argument(
        "--every",
        type=_period,
        default=900.0,
        metavar="TIME",
        help="(add) how often to read it: 15m (default), 1h, 900",
    )
    p.add_argument("--json", action="store_true", help="(list) print JSON instead of text")

    p = sub.add_parser(
        "store",
        help="copy a collection to another store (embedded <-> server)",
        description="`rag store copy` indexes every article a collection's ledger keeps into "
        "another store, with no need of the original files: from the embedded store to the "
        "server store (chunks on a `chroma run` server, books on PostgreSQL) or back, or to "
        "another folder or collection. The target is given by --to-* alone: without --to-host "
        "its chunks are in embedded Chroma, without --to-url its books are files, in --to-path "
        "(default: the source's folder). The source is left as it was.",
        epilog="examples:\n"
        "  rag store copy --to-host chroma.internal --to-url postgresql://news:PW@db/news\n"
        "  RAG_STORE__HOST=chroma.internal RAG_STORE__URL=postgresql://... "
        "rag store copy --to-path store-local",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["copy"])
    p.add_argument("--to-path", type=Path, metavar="DIR", help="the target's folder")
    p.add_argument("--to-host", metavar="HOST", help="the target's Chroma server")
    p.add_argument("--to-port", type=int, metavar="PORT", help="its port (default 8000)")
    p.add_argument("--to-url", metavar="URL", help="the target's PostgreSQL server (the books)")
    p.add_argument("--to-collection", metavar="NAME", help="(default: the same name)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser(
        "feedback",
        help="what readers said of answers, and the test questions it makes",
        description="Readers give a thumbs up or down to an answer in the chat or with POST "
        "/v1/feedback, with the answer they expected or the citations that do not support "
        "their claims. `list` shows it; `export` writes it as a gold question file that `rag "
        "eval --dataset FILE` runs: a thumbs-down with an expected answer checks that answer, a "
        "thumbs-up checks the answer given stays. A thumbs-down without an expected answer is "
        "listed but not exported.",
    )
    p.add_argument("action", choices=["list", "export"])
    p.add_argument(
        "--out",
        type=Path,
        default=Path("feedback.jsonl"),
        help="(export) the gold file to write (default feedback.jsonl)",
    )
    p.add_argument("--json", action="store_true", help="(list) print JSON instead of text")
    for name, command in sub.choices.items():
        if name not in ("collections", "keys"):
            command.add_argument(
                "--collection",
                metavar="NAME",
                help="the collection (archive) to use (default RAG_STORE__COLLECTION, 'news')",
            )
    return ap


def _settings(args: argparse.Namespace, *, own: bool = True) -> Settings:
    """The settings of the environment (and --env-file), on the collection asked, with the
    collection's own settings over them (`rag collections set`) unless `own` is False."""
    from index.collections import with_own_settings
    from rag.settings import load, on_collection

    env_file = args.env_file if Path(args.env_file).exists() else None
    settings = on_collection(load(env_file), getattr(args, "collection", None))
    return with_own_settings(settings) if own else settings


def _filters(args: argparse.Namespace) -> Filters:
    from rag.schema import Filters

    return Filters(date_from=args.date_from, date_to=args.date_to, sources=args.source)


def cmd_ingest(args: argparse.Namespace) -> int:
    from index.fetch import read_url_list
    from index.ingest import ingest
    from index.intake import intake
    from index.web import ingest_urls, is_url
    from rag.embeddings import backends

    settings = _settings(args)
    urls = [p for p in args.paths if is_url(p)]
    if args.urls:
        try:
            urls += read_url_list(args.urls)
        except OSError as exc:
            raise LoaderError(f"cannot read the URL list {args.urls}: {exc.strerror}") from None
    paths = [Path(p) for p in args.paths if not is_url(p)]
    if not paths and not urls:
        raise LoaderError("nothing to ingest: give files, folders or URLs (or --urls FILE)")
    if urls and (args.prune or args.rebuild):
        raise LoaderError("--prune and --rebuild take files and folders only, not URLs")
    embed_model = backends.build(settings.embed, settings.store)
    progress = not args.quiet and not args.json
    reports: list[IngestReport] = []
    if paths:
        found = intake(paths) if args.limit else None
        report = ingest(
            paths,
            settings,
            embed_model,
            prune=args.prune,
            rebuild=args.rebuild,
            progress=progress,
            articles=found.articles[: args.limit] if found else None,
            tag=settings.ingest.tag_entities == "ingest",
        )
        if found:  # ingest was handed the articles: the files and problems are intake's
            report.files = found.files
            report.problems[:0] = found.problems
        reports.append(report)
    if urls:
        web, _ = ingest_urls(urls, settings, embed_model, refresh=args.refresh, progress=progress)
        reports.append(web)
    if args.watch:
        return _follow(paths, settings, embed_model, reports)
    if any(r.new or r.updated or r.removed for r in reports):
        from index.after_write import after_write

        tagged = all(r.tagged is not None for r in reports if r.new or r.updated)
        for note in after_write(settings, tagged=tagged):
            if progress:
                print(note, file=sys.stderr)
    for report in reports:
        if args.json:
            out = {k: v for k, v in report.__dict__.items() if k != "problems"}
            out["problems"] = [p.__dict__ for p in report.problems]
            print(json.dumps(out, indent=2))
        else:
            for prob in report.problems:
                print(f"skipped {prob.location}: {prob.message}", file=sys.stderr)
            print(report.summary())
    return 0


def _follow(
    paths: list[Path], settings: Settings, embed_model: Any, reports: list[IngestReport]
) -> int:
    """`rag ingest --watch DIR`: report the first ingest, then follow the folder until Ctrl-C."""
    import signal
    import threading
    import time

    from index.watch import FolderSync, Round, watch_folder

    if len(paths) != 1 or not paths[0].is_dir():
        raise LoaderError("--watch follows one folder: give exactly one folder to ingest")
    for report in reports:
        print(report.summary())
    sync = FolderSync(paths[0], settings, embed_model)
    sync.sync()  # learns which file gave which article (all unchanged by now)

    def said(done: Round) -> None:
        print(f"{time.strftime('%H:%M:%S')} {done.summary()}", flush=True)

    def ready() -> None:
        print(f"watching {sync.folder} (Ctrl-C stops)", flush=True)

    stop = threading.Event()
    # Ctrl-C or SIGTERM ends the watch at its next look (about a second), not mid-ingest
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    watch_folder(sync, stop, said, on_ready=ready)
    print("stopped watching", flush=True)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from index.ingest import remove
    from rag.embeddings import backends

    settings = _settings(args)
    report = remove(args.ids, settings, backends.build(settings.embed, settings.store))
    if report.removed:
        from index.after_write import after_write

        after_write(settings)
    missing = [i for i, s in report.status.items() if s == "not found"]
    if args.json:
        print(json.dumps({"status": report.status, "restored": report.restored}, indent=2))
    else:
        for art_id in missing:
            print(
                f"not found: {art_id} (GET /v1/articles or `rag search --json` show ids)",
                file=sys.stderr,
            )
        print(
            f"{report.removed} article(s) removed"
            + (
                f"; {report.restored} copies now index the paragraphs they shared"
                if report.restored
                else ""
            )
        )
    return 1 if missing else 0


def cmd_check(args: argparse.Namespace) -> int:
    from index.check import check
    from rag.embeddings import backends

    settings = _settings(args)
    report = check(settings, backends.build(settings.embed, settings.store), repair=args.repair)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
    fixed = args.repair and not report.unrecoverable
    return 0 if report.problems == 0 or fixed else 1


def cmd_entities(args: argparse.Namespace) -> int:
    from rag.jobs.entities import fill

    if args.processes < 1:
        raise RagError("--processes must be 1 or more")
    report = fill(_settings(args), processes=args.processes, progress=not args.quiet)
    print(report.summary())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from rag.pipeline import build
    from rag.retrieval.hybrid import passages_json

    pipe = build(_settings(args))
    passages = pipe.retriever.retrieve(
        args.question, top_k=args.top_k, filters=_filters(args), mode=args.mode, named=True
    )
    if args.json:
        print(passages_json(passages))
        return 0
    if not passages:
        print("no passage matches (check the filters)")
    for i, p in enumerate(passages, 1):
        also = f"  (also in {', '.join(p.also_in)})" if p.also_in else ""
        print(
            f"[{i}] {p.title} — {p.date or 'undated'}, {p.source or 'unknown source'}  score {p.score:.4f}"
        )
        print(f"    chunk {p.chunk_id}{also}")
        print("    " + p.text.replace("\n\n", "\n    ").strip())
        print()
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.answering.answer import Answer, Delta
    from rag.pipeline import build

    pipe = build(_settings(args))
    try:
        kwargs = {
            "top_k": args.top_k,
            "filters": _filters(args),
            "backend": args.backend,
            "as_of": args.as_of,
        }
        if args.stream and not args.json:
            answer = None
            for event in pipe.qa.stream(args.question, **kwargs):
                if isinstance(event, Delta):
                    print(event.text, end="", flush=True)
                elif isinstance(event, Answer):
                    answer = event
            print("\n")
            if answer is not None:
                print(answer.to_text().split("\n", 1)[1].strip() if answer.citations else "")
            return 0
        answer = pipe.qa.ask(args.question, **kwargs)
    finally:
        pipe.close()
    print(answer.model_dump_json(indent=2) if args.json else answer.to_text())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import run

    settings = _settings(args, own=False)  # the server lays each collection's own over them
    feeds: list[str] = []
    if args.feeds:
        from index.fetch import read_url_list

        try:
            feeds = read_url_list(args.feeds)
        except OSError as exc:
            raise LoaderError(f"cannot read the feed list {args.feeds}: {exc.strerror}") from None
    if args.watch and not args.watch.is_dir():
        raise LoaderError(f"--watch {args.watch}: no such folder (make it, or watch another)")
    if args.answer_processes is not None:
        if args.answer_processes < 0:
            raise ConfigError("--answer-processes must be 0 or more")
        settings.server.answer_processes = args.answer_processes
    run(
        settings,
        args.host or settings.server.host,
        args.port or settings.server.port,
        watch=args.watch,
        feeds=feeds,
        every=args.every,
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.cli import run

    return run(args)


def cmd_collections(args: argparse.Namespace) -> int:
    from index.collections import (
        create_collection,
        delete_collection,
        list_collections,
        set_own_settings,
    )

    settings = _settings(args)
    if args.action == "list":
        found = list_collections(settings)
        if args.json:
            print(json.dumps([vars(c) for c in found], indent=2))
        elif not found:
            print(f"no collections in {settings.store.path}: `rag ingest seeds/` makes one")
        for c in [] if args.json else found:
            articles = "?" if c.articles is None else c.articles
            default = "  (default)" if c.name == settings.store.collection else ""
            own = "".join(f"\t{k}={v}" for k, v in (c.own or {}).items())
            print(f"{c.name}\t{articles} articles\t{c.chunks} chunks{own}{default}")
        return 0
    if not args.name:
        raise ConfigError(f"`rag collections {args.action}` needs the collection's NAME")
    backend = None if args.backend in (None, "default") else args.backend
    if args.action == "create":
        create_collection(settings, args.name)
        if backend:
            set_own_settings(settings, args.name, backend=backend)
        print(f"created {args.name!r}: `rag ingest --collection {args.name} PATH…` fills it")
        return 0
    if args.action == "set":
        if args.backend is None:
            raise ConfigError("`rag collections set NAME` needs what to set: --backend B")
        kept = set_own_settings(settings, args.name, backend=backend)
        shown = ", ".join(f"{k}={v}" for k, v in kept.items()) or "none (the server's)"
        print(f"{args.name!r} has its own settings: {shown}")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError(
                f"deleting {args.name!r} removes its articles for good: add --yes to confirm"
            )
        if input(f"delete the collection {args.name!r} and all its articles? [y/N] ") != "y":
            print("nothing deleted")
            return 1
    gone = delete_collection(settings, args.name)
    print(f"deleted {gone.name!r}: {gone.articles or 0} articles, {gone.chunks} chunks")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tqdm import tqdm

    from index.collections import where
    from index.copy import copy_collection, target_of
    from rag.embeddings import backends

    settings = _settings(args)
    target = target_of(
        settings,
        path=args.to_path,
        host=args.to_host,
        port=args.to_port,
        url=args.to_url,
        collection=args.to_collection,
    )
    embed_model = backends.build(settings.embed)
    with tqdm(unit="article", desc="copying", file=sys.stderr, disable=args.json) as bar:

        def total(n: int) -> None:
            bar.total = n

        report = copy_collection(settings, target, embed_model, progress=bar.update, total=total)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(report.summary(where(settings.store), where(target.store)))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from index.collections import require_collection
    from rag.store.keys import key_ring

    settings = _settings(args)
    ring = key_ring(settings)
    collection = settings.store.collection
    if args.action == "create":
        require_collection(settings)
        info, key = ring.create(collection, args.scope, args.label)
        if args.json:
            print(json.dumps({"key": key, **asdict(info)}, indent=2))
        else:
            print(f"{info.id}: a {info.scope} key for the collection {collection!r}")
            print(f"  {key}")
            print("shown this once: keep it now (send it as `Authorization: Bearer KEY`)")
        return 0
    if args.action == "list":
        found = ring.list(None if args.all else collection)
        if args.json:
            print(json.dumps([asdict(k) for k in found], indent=2))
        elif not found:
            print(f"no keys for {'any collection' if args.all else repr(collection)}")
        for k in [] if args.json else found:
            print(f"{k.id}\t{k.collection}\t{k.scope}\t{k.created}\t{k.label}")
        return 0
    gone = ring.revoke(args.key_id, None if args.all else collection)
    print(f"revoked {gone.id} ({gone.scope}, {gone.collection!r}): it opens nothing from now")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rag.store.feeds import FeedList
    from rag.store.layout import Layout

    settings = _settings(args)
    feeds = FeedList(Layout.of(settings).feeds)
    collection = settings.store.collection
    if args.action == "list":
        found = feeds.all()
        if args.json:
            print(json.dumps([asdict(f) for f in found], indent=2))
        elif not found:
            print(f"{collection!r} follows no feed: `rag feeds add URL` adds one")
        for f in [] if args.json else found:
            print(f"{f.url}\tevery {f.every / 60:g} min\t{f.last_outcome or 'not read yet'}")
        return 0
    if not args.url:
        raise ConfigError(f"`rag feeds {args.action}` needs the feed's URL")
    if args.action == "add":
        from index.collections import require_collection

        require_collection(settings)
        feed = feeds.add(args.url, args.every)
        print(
            f"{collection!r} follows {feed.url} every {feed.every / 60:g} min (read by rag serve)"
        )
        return 0
    if not feeds.remove(args.url):
        raise ConfigError(f"{collection!r} follows no feed {args.url!r}: `rag feeds list`")
    print(f"{collection!r} no longer follows {args.url}")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rag.store.feedback import feedback_book

    settings = _settings(args)
    book = feedback_book(settings)
    collection = settings.store.collection
    if args.action == "list":
        found = book.all()
        if args.json:
            print(json.dumps([asdict(f) for f in found], indent=2, ensure_ascii=False))
            return 0
        if not found:
            print(f"no feedback on {collection!r} yet")
        for f in found:
            said = f" expected: {f.expected!r}" if f.expected else ""
            bad = f" unsupported citations: {f.unsupported}" if f.unsupported else ""
            print(f"{f.id}\t{f.created}\t{f.verdict}\t{f.question!r}{said}{bad}")
        return 0
    made, left = book.gold_records()
    if not made:
        raise ConfigError(
            f"no feedback on {collection!r} makes a test question yet "
            f"({len(left)} thumbs-down without an expected answer)"
        )
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in made))
    print(f"wrote {len(made)} question(s) to {args.out}: `rag eval --dataset {args.out}` runs them")
    if left:
        ids = ", ".join(str(f.id) for f in left[:10])
        print(f"left out {len(left)} thumbs-down without an expected answer ({ids})")
    return 0


COMMANDS = {
    "ingest": cmd_ingest,
    "remove": cmd_remove,
    "check": cmd_check,
    "entities": cmd_entities,
    "search": cmd_search,
    "ask": cmd_ask,
    "serve": cmd_serve,
    "eval": cmd_eval,
    "collections": cmd_collections,
    "store": cmd_store,
    "keys": cmd_keys,
    "feedback": cmd_feedback,
    "feeds": cmd_feeds,
}


def _full_disk(args: argparse.Namespace, exc: Exception) -> RagError | None:
    from rag.store.chroma import disk_full_error

    try:
        settings = _settings(args)
    except Exception:
        return None
    return disk_full_error(settings.store, exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("chromadb", "httpx", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING if args.verbose else logging.ERROR)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # `rag ask … | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    except RagError as exc:
        if os.environ.get("RAG_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a store failing on a full disk says so; anything else is a bug
        full = _full_disk(args, exc)
        if full is None or os.environ.get("RAG_DEBUG"):
            raise
        print(f"error: {full}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: the index keeps what was finished; run the same command again",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
