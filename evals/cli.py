"""`rag eval`: the command-line face of the harness (the `rag` parser in `ui/cli.py` calls
`add_arguments` for the subcommand and `run` to execute it).

It loads the question set, builds the pipeline from settings (ingesting `seeds/` first when the
seeds set is asked for and the configured index is empty; building the `realtimeqa` collection
when that one is empty), runs the harness, prints the table, writes the reports, and optionally
compares with an earlier report and applies the floors (`--gate`: exit 1 below a floor).
It does not define metrics or floors, and never changes the pipeline's settings beyond the
options given.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.dataset import (
    REALTIMEQA_DIR,
    SEEDS_GOLD,
    GoldRecord,
    load_gold,
    load_path,
    load_realtimeqa,
)
from evals.gate import FLOORS, check, floors_for, load_floors
from rag.answering.backends import BACKENDS
from rag.settings import RETRIEVAL_MODES

if TYPE_CHECKING:  # the harness imports llama-index: only `rag eval` itself needs it
    from evals.harness import EvalRun, QuestionResult
    from rag.settings import Settings

EPILOG = """\
examples:
  rag eval                                 the seeds gold set, offline (extractive backend)
  rag eval --gate                          ... and fail (exit 1) below evals/floors.json
  rag eval --compare reports/OLD.json      ... and list what got better or worse
  rag eval --dataset realtimeqa --limit 300 --store store-rtqa
                                           RealTimeQA on a 300-article collection
  rag eval --dataset my_rag_dataset.json   a llama-index LabelledRagDataset file
  RAG_LLM__BASE_URL=http://127.0.0.1:8080/v1 rag eval --backend openai --judge
"""


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rag eval`."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the examples' layout
    if parser.description:  # so wrap the description by hand
        parser.description = textwrap.fill(parser.description, width=88)
    parser.add_argument(
        "--dataset",
        default="seeds",
        metavar="NAME|PATH",
        help="seeds: the gold questions about seeds/ (default; seeds/ is ingested first if the "
        "index is empty) | realtimeqa: the RealTimeQA 2023 quiz in its own collection | PATH: "
        "a gold .jsonl file or a llama-index rag_dataset.json (LabelledRagDataset)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="answer backend (RAG_LLM__BACKEND; auto = openai if configured, else extractive)",
    )
    parser.add_argument(
        "-k",
        "--top-k",
        type=_positive,
        help="passages each answer is made from (default as `rag ask`: "
        "RAG_RETRIEVAL__ANSWER_PASSAGES, 20); retrieval metrics are always measured at k = 5 and 10",
    )
    parser.add_argument(
        "--mode",
        choices=RETRIEVAL_MODES,
        help="retrieval mode (RAG_RETRIEVAL__MODE, hybrid)",
    )
    parser.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="quick run. Gold sets: only the first N questions. realtimeqa: build its collection "
        "from N articles (those of the first answerable questions); only questions with a "
        "supporting article indexed count",
    )
    parser.add_argument(
        "--questions",
        type=_positive,
        metavar="N",
        help="realtimeqa: evaluate at most N of the countable questions",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="where the JSON, Markdown and HTML reports go (default reports/)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD.json",
        help="an earlier JSON report: print which questions got better or worse per metric, "
        "and the aggregate deltas",
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="CI gate: exit 1 when an overall metric is below its floor in the floors file "
        "(per dataset and backend), printing which",
    )
    parser.add_argument(
        "--floors",
        type=Path,
        default=FLOORS,
        metavar="PATH",
        help="floors file for --gate (default evals/floors.json)",
    )
    parser.add_argument(
        "--judge",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run llama-index's faithfulness and correctness judges (needs an LLM: "
        "RAG_LLM__BASE_URL / RAG_LLM__API_KEY, or a local GGUF); on by default with the openai "
        "and local backends (--no-judge: off, three times faster); reported apart, never gated",
    )
    parser.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="realtimeqa: the folder of its collection (default RAG_STORE__PATH; the collection "
        "is always 'realtimeqa')",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REALTIMEQA_DIR,
        metavar="DIR",
        help=f"realtimeqa: the data folder (default {REALTIMEQA_DIR})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def _settings(args: argparse.Namespace) -> Settings:
    from rag.settings import load, on_collection

    env_file = getattr(args, "env_file", ".env")
    settings = load(env_file if env_file and Path(env_file).exists() else None)
    settings = on_collection(settings, getattr(args, "collection", None))
    if getattr(args, "mode", None):
        retrieval = settings.retrieval.model_copy(update={"mode": args.mode})
        settings = settings.model_copy(update={"retrieval": retrieval})
    return settings


def _progress(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None

    def show(i: int, n: int, res: QuestionResult) -> None:
        mark = "!" if res.problems else "✓"
        end = "\n" if i == n else ""
        print(f"\r  [{i}/{n}] {res.id} {mark}   ", end=end, file=sys.stderr, flush=True)

    return show


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _gold_pipeline(settings: Settings, embed_model: Any, *, seeds: bool) -> Any:
    from index.seed import packaged_seeds, refuse_if_lost, seed_if_empty
    from rag.errors import IndexMissingError
    from rag.pipeline import build

    if seeds:  # the gold set asks about this checkout's seeds/: ingest them into an empty index
        seed_if_empty(settings, embed_model, say=_say, seeds=packaged_seeds())
    try:
        return build(settings, embed_model=embed_model)
    except IndexMissingError:
        refuse_if_lost(settings)  # the store was lost, not new: say how to get it back
        raise


def _warn_missing_articles(pipe: Any, records: Sequence[GoldRecord]) -> None:
    wanted = {a for r in records for a in r.reference_context_ids}
    if not wanted:
        return
    have = {str(a["article_id"]) for a in pipe.catalogue.articles()}
    missing = sorted(wanted - have)
    if missing:
        _say(
            f"warning: {len(missing)} of the {len(wanted)} articles this set refers to are not in "
            f"the index ({', '.join(missing[:5])}); ingest them, or retrieval scores mean little"
        )


def _judge(args: argparse.Namespace, pipe: Any, backend: str) -> tuple[Any, str | None]:
    if args.judge is False or not (args.judge or backend in ("openai", "local")):
        return None, None
    from evals.judges import judge_llm

    return judge_llm(pipe, backend)


def _evaluate(
    args: argparse.Namespace, pipe: Any, backend: str, runner: Callable[[Any], EvalRun]
) -> tuple[EvalRun, str | None]:
    """Run `runner(judge_llm)` on the pipeline, closing its model server afterwards."""
    try:
        judge, note = _judge(args, pipe, backend)
        return runner(judge), note
    finally:
        pipe.close()


def run(args: argparse.Namespace) -> int:
    """Run `rag eval`; 0 when done (and the gate passed, with --gate), 1 when the gate failed."""
    from evals import harness
    from evals.report import compare, console_table, load_run, write_reports
    from rag.answering.backends import resolve_backend
    from rag.embeddings import backends

    settings = _settings(args)
    # read everything that can fail fast before loading any model
    old = load_run(args.compare) if args.compare else None
    floors = load_floors(args.floors) if args.gate else None
    dataset = str(args.dataset)
    backend = resolve_backend(settings, args.backend)
    name = dataset if dataset in ("seeds", "realtimeqa") else Path(dataset).stem
    mine = floors_for(floors, name, backend, args.floors) if floors is not None else None
    progress = _progress(args.quiet)
    result: EvalRun
    if dataset == "realtimeqa":
        _say(f"loading RealTimeQA from {args.data} …")
        rtqa = load_realtimeqa(args.data)
        rt_settings = harness.realtimeqa_settings(
            settings, args.store, getattr(args, "collection", None)
        )
        embed_model = backends.build(settings.embed, rt_settings.store)
        indexed = harness.build_realtimeqa_index(
            rt_settings, embed_model, rtqa, args.limit, say=_say, progress=not args.quiet
        )
        from rag.pipeline import build

        pipe = build(rt_settings, embed_model=embed_model)
        result, note = _evaluate(
            args,
            pipe,
            backend,
            lambda judge: harness.run_realtimeqa(
                pipe,
                rtqa,
                indexed,
                backend=backend,
                top_k=args.top_k,
                max_questions=args.questions,
                judge_llm=judge,
                progress=progress,
            ),
        )
        if args.limit:
            result.meta["limit_articles"] = args.limit
    else:
        seeds = dataset == "seeds"
        records = load_gold(SEEDS_GOLD) if seeds else load_path(Path(dataset))
        if args.limit:
            records = records[: args.limit]
        embed_model = backends.build(settings.embed, settings.store)
        pipe = _gold_pipeline(settings, embed_model, seeds=seeds)
        _warn_missing_articles(pipe, records)
        result, note = _evaluate(
            args,
            pipe,
            backend,
            lambda judge: harness.run_gold(
                pipe,
                records,
                dataset=name,
                backend=backend,
                top_k=args.top_k,
                judge_llm=judge,
                progress=progress,
            ),
        )
        if args.limit:
            result.meta["limit_questions"] = args.limit
    if note:
        if result.judges is not None:
            result.judges["note"] = note
        else:
            result.notes.append(note)

    print(console_table(result))
    comparison = compare(old, result.to_dict(), old_label=str(args.compare)) if old else None
    paths = write_reports(result, args.out, comparison)
    if comparison is not None:
        print()
        print(comparison.render())
    print()
    print("reports: " + ", ".join(str(p) for p in paths.values()))

    if mine is not None:
        failures = check(result.aggregates["overall"], mine)
        if failures:
            print(f"\ngate FAILED ({result.dataset}/{result.backend}, floors in {args.floors}):")
            for f in failures:
                print(f"  {f}")
            return 1
        print(f"\ngate passed: {len(mine)} metrics at or above their floors ({args.floors})")
    return 0
