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
from typing import TYPE_CHECKING

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.retrieval import Filters
    from rag.settings import Settings

EPILOG = """\
settings come from the environment and .env (see .env.example), e.g.
  RAG_LLM__BACKEND=openai RAG_LLM__BASE_URL=http://127.0.0.1:8080/v1 rag ask "..."
examples:
  rag ingest seeds/                 index the demo articles
  rag check --repair                the index and its ledger agree (or are made to)
  rag search "What did Hegseth say about 5%?" --json
  rag ask "What did Hegseth say about 5%?"
  rag serve                         web UI and HTTP API on http://127.0.0.1:7860
"""


def _date(value: str) -> date:
    from rag.dates import parse_day

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
    from rag.answerers import BACKENDS, REGISTRY

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
        ".txt (seed format), .md, .html, .jsonl and .jsonl.gz (one article per line). Unchanged "
        "articles are skipped; changed ones are re-indexed; a repeated paragraph is indexed once.",
    )
    p.add_argument("paths", nargs="+", type=Path, help="files or folders of articles")
    p.add_argument(
        "--prune", action="store_true", help="remove indexed articles that are not in PATHS"
    )
    p.add_argument("--rebuild", action="store_true", help="drop the index first and build it anew")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--limit", type=int, help="ingest only the first N articles (sorted by id)")
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
        "search",
        help="show the passages retrieval ranks highest",
        description="Hybrid search (dense + BM25, reciprocal-rank fused) over the index.",
    )
    p.add_argument("question")
    _add_filters(p)
    p.add_argument(
        "--mode", choices=["hybrid", "dense", "bm25"], help="retrieval mode (RAG_RETRIEVAL__MODE)"
    )

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

    p = sub.add_parser(
        "eval",
        help="score the pipeline on gold questions",
        description="Run a gold question set through the real pipeline and score retrieval, answers, "
        "citations and declining; writes JSON and Markdown reports.",
    )
    from evals.cli import add_arguments

    add_arguments(p)
    return ap


def _settings(args: argparse.Namespace) -> Settings:
    from rag.settings import load

    env_file = args.env_file if Path(args.env_file).exists() else None
    return load(env_file)


def _filters(args: argparse.Namespace) -> Filters:
    from rag.retrieval import Filters

    return Filters(date_from=args.date_from, date_to=args.date_to, sources=args.source)


def cmd_ingest(args: argparse.Namespace) -> int:
    from index.ingest import ingest
    from index.intake import intake
    from rag import embeddings

    settings = _settings(args)
    found = intake(args.paths) if args.limit else None
    report = ingest(
        args.paths,
        settings,
        embeddings.build(settings.embed, settings.store),
        prune=args.prune,
        rebuild=args.rebuild,
        progress=not args.quiet and not args.json,
        articles=found.articles[: args.limit] if found else None,
    )
    if found:  # ingest was handed the articles: the files and problems are intake's
        report.files = found.files
        report.problems[:0] = found.problems
    if args.json:
        out = {k: v for k, v in report.__dict__.items() if k != "problems"}
        out["problems"] = [p.__dict__ for p in report.problems]
        print(json.dumps(out, indent=2))
    else:
        for prob in report.problems:
            print(f"skipped {prob.location}: {prob.message}", file=sys.stderr)
        print(report.summary())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from index.check import check
    from rag import embeddings

    settings = _settings(args)
    report = check(settings, embeddings.build(settings.embed, settings.store), repair=args.repair)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
    fixed = args.repair and not report.unrecoverable
    return 0 if report.problems == 0 or fixed else 1


def cmd_search(args: argparse.Namespace) -> int:
    from rag.pipeline import build
    from rag.retrieval import passages_json

    pipe = build(_settings(args))
    passages = pipe.retriever.retrieve(
        args.question, top_k=args.top_k, filters=_filters(args), mode=args.mode
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
    from rag.answer import Answer, Delta
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

    settings = _settings(args)
    run(settings, args.host or settings.server.host, args.port or settings.server.port)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.cli import run

    return run(args)


COMMANDS = {
    "ingest": cmd_ingest,
    "check": cmd_check,
    "search": cmd_search,
    "ask": cmd_ask,
    "serve": cmd_serve,
    "eval": cmd_eval,
}


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
    except KeyboardInterrupt:
        print(
            "interrupted: the index keeps what was finished; run the same command again",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
