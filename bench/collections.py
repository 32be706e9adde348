"""Benchmark many collections in one `rag serve`: by default 20 collections of 200 articles each.

Run it as a module (`python -m bench.collections`): as a file, its folder would come first on
sys.path and it would stand for the standard library's `collections`.

1. Builds a store in --work (a temporary folder unless given): the RealTimeQA articles of --data
   sorted by publication date, the newest `--collections x --articles` of them cut into consecutive
   disjoint groups (c00 the oldest group, then c01…: the quiz questions are all of 2023, so the
   oldest articles of the corpus would have none), each group written as a .jsonl file and
   ingested into its own collection with `index.ingest.ingest`, then its entity table filled with
   `rag.jobs.entities.fill` (what `rag ingest` starts aside). The seed articles go into the
   default collection ('news') so that the server starts without seeding. Each collection is
   asked at most --questions quiz questions: those whose gold answer occurs (case-insensitively)
   in one of the group's articles and whose date is in the group's date range (up to
   DATE_SLACK_DAYS after its newest article). A collection with no such question is asked one
   probe question instead (the title of its newest article, as of that article's date), so that
   every collection is opened; probes are counted apart from the quiz questions.
2. Reference answers: each collection's questions asked in this process of a single-collection
   pipeline (`rag.pipeline.build`), extractive, as of the question's date.
3. One real `rag serve` on 127.0.0.1 over the store, RAG_SERVER__MAX_OPEN_COLLECTIONS=--collections
   and RAG_SERVER__COLLECTION_IDLE_SECONDS=--idle, its default answer processes: every
   collection's questions sent to `POST /v1/collections/NAME/query`, one at a time. Counts the
   answers identical to the reference (answer text, short answer and cited chunk ids) and lists
   those that differ; the latency of each question (p50 / p95; the first question of a
   collection also opens it); the server's resident memory (the server process and all its
   descendants, the answer processes among them: sum of VmRSS from /proc) before any collection
   was asked, after all were, its peak (VmHWM of each process, summed) and the
   `rag_open_collections` gauge of /v1/metrics.
4. Waits until the idle collections should have been closed (idle x 1.5 + 10 s; the server checks
   every min(idle/4, 30) s), polls the gauge until it is 0 (bounded), and records the memory
   then; asks one question again, which opens its collection again.
5. The alternative: one `rag serve` per collection (RAG_STORE__COLLECTION=NAME). Measured for the
   first SINGLE_MEASURED collections only, one server at a time: its questions asked, its memory
   after answering. The total for --collections such servers is EXTRAPOLATED from those (mean x
   --collections), printed beside the one server's figure with the ratio.

Prints a table and writes bench/results/NAME.json (--out, default 'collections'). Every wait is
bounded; only 127.0.0.1 is used; every server is stopped at the end, whatever happens. Exits 1
when an answer differs from its reference, a request failed, or the gauge did not fall to 0.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and not __package__:  # `python bench/collections.py`
    sys.exit("run it as a module, from the project's folder: python -m bench.collections")

import argparse
import gzip
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, dir_size_mb, serve_env, start_serve, write_result
from tests.helpers.processes import children
from tests.helpers.processes import stop_process as stop

DATE_SLACK_DAYS = 7  # a question may be asked up to this long after the group's newest article
SINGLE_MEASURED = 3  # single-collection servers actually started (the rest is extrapolated)
START_TIMEOUT = 300.0  # seconds for a server to answer /v1/health
REQUEST_TIMEOUT = 120.0  # seconds for one answer
GAUGE_WAIT_MAX = 120.0  # seconds of polling /v1/metrics for the gauge to reach 0, after the wait

Key = tuple[str, str | None, tuple[str, ...]]  # answer text, short answer, cited chunk ids


@dataclass
class Ask:
    id: str
    question: str
    as_of: date
    gold: list[str]
    probe: bool = False  # not a quiz question: asked so that the collection is opened
    reference: Key | None = None


@dataclass
class Group:
    name: str
    rows: list[dict[str, Any]]
    first: date
    last: date
    asks: list[Ask] = field(default_factory=list)
    build: dict[str, Any] = field(default_factory=dict)


# --- numbers ------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def _status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in kB (0 for a field a zombie no longer has)."""
    rss = hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            rss = int(value.split()[0])
        elif key == "VmHWM":
            hwm = int(value.split()[0])
    return rss, hwm


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def memory_mb(pid: int) -> dict[str, float]:
    """The server's resident memory and that of all its descendants (the answer processes and
    multiprocessing's resource tracker): now (VmRSS) and peak (VmHWM), in MB, each summed."""
    rss, hwm = _status_kb(pid)
    kids_rss = kids_hwm = 0
    kids = 0
    for child in descendants(pid):
        try:
            r, h = _status_kb(child)
        except OSError:  # ended meanwhile
            continue
        kids_rss, kids_hwm, kids = kids_rss + r, kids_hwm + h, kids + 1
    return {
        "server_rss_mb": round(rss / 1024, 1),
        "children_rss_mb": round(kids_rss / 1024, 1),
        "total_rss_mb": round((rss + kids_rss) / 1024, 1),
        "server_peak_mb": round(hwm / 1024, 1),
        "total_peak_mb": round((hwm + kids_hwm) / 1024, 1),
        "children": kids,
    }


# --- the collections -------------------------------------------------------------------------------
def make_groups(data: Path, n: int, size: int, per: int) -> tuple[list[Group], dict[str, Any]]:
    """The newest n*size dated articles, oldest first, cut into n groups of `size`, each with at
    most `per` questions (a probe question when none fits)."""
    from rag.text.dates import parse_date

    rows: list[tuple[date, str, dict[str, Any]]] = []
    undated = 0
    with gzip.open(data / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            day = parse_date(row.get("published") or row.get("date"))
            if day is None or not str(row.get("text") or "").strip():
                undated += 1
                continue
            rows.append((day, str(row["id"]), row))
    rows.sort(key=lambda r: (r[0], r[1]))
    if len(rows) < n * size:
        raise SystemExit(
            f"{data} has {len(rows)} dated articles: fewer than --collections x --articles = "
            f"{n * size}"
        )
    chosen = rows[len(rows) - n * size :]
    questions = [
        json.loads(line)
        for line in (data / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    groups: list[Group] = []
    for g in range(n):
        part = chosen[g * size : (g + 1) * size]
        group = Group(f"c{g:02d}", [r[2] for r in part], part[0][0], part[-1][0])
        texts = [str(r[2].get("text") or "").lower() for r in part]
        until = group.last + timedelta(days=DATE_SLACK_DAYS)
        for q in questions:
            asked = parse_date(q.get("date"))
            answers = [str(a) for a in q.get("answer") or [] if str(a).strip()]
            if asked is None or not answers or not group.first <= asked <= until:
                continue
            if any(a.lower() in t for a in answers for t in texts):
                group.asks.append(Ask(str(q["id"]), str(q["question"]).strip(), asked, answers))
                if len(group.asks) >= per:
                    break
        if not group.asks:
            newest = part[-1][2]
            title = str(newest.get("title") or "").strip() or str(newest["text"])[:120]
            group.asks.append(Ask(f"probe-{group.name}", title, part[-1][0], [], probe=True))
        groups.append(group)
    source = {
        "articles_in_corpus": len(rows) + undated,
        "dated_articles": len(rows),
        "articles_used": len(chosen),
        "first_date": chosen[0][0].isoformat(),
        "last_date": chosen[-1][0].isoformat(),
        "questions_in_data": len(questions),
    }
    return groups, source


def build_store(store: Path, work: Path, groups: list[Group], embed_model: Any) -> dict[str, Any]:
    """Each group ingested into its collection and its entity table filled; the seeds into the
    default one."""
    from index.ingest import ingest
    from rag.jobs.entities import fill
    from rag.settings import load, on_collection

    settings = load(None, store={"path": store}, llm={"backend": "extractive"})
    t0 = time.perf_counter()
    report = ingest([ROOT / "seeds"], settings, embed_model, progress=False)
    fill(settings)
    print(f"default collection {settings.store.collection!r}: the seeds, {report.summary()}")
    files = work / "collections"
    files.mkdir(parents=True, exist_ok=True)
    ingest_s = entities_s = 0.0
    for k, group in enumerate(groups, 1):
        path = files / f"{group.name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for row in group.rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        mine = on_collection(settings, group.name)
        t1 = time.perf_counter()
        report = ingest([path], mine, embed_model, progress=False)
        t2 = time.perf_counter()
        filled = fill(mine)
        t3 = time.perf_counter()
        ingest_s, entities_s = ingest_s + (t2 - t1), entities_s + (t3 - t2)
        group.build = {
            "articles": report.articles,
            "chunks": report.chunks_added,
            "ingest_s": round(t2 - t1, 1),
            "entities_s": round(t3 - t2, 1),
            "entity_sentences": filled.total_sentences,
        }
        quiz = sum(not a.probe for a in group.asks)
        print(
            f"[{k}/{len(groups)}] {group.name}: {report.articles} articles "
            f"({group.first} to {group.last}), {report.chunks_added} chunks, ingest "
            f"{t2 - t1:.1f} s, entities {t3 - t2:.1f} s; {quiz} quiz question(s)"
            + ("" if quiz else ", 1 probe")
            + f"  [{time.perf_counter() - t0:.0f} s so far]",
            flush=True,
        )
    total = time.perf_counter() - t0
    return {
        "seconds": round(total, 1),
        "ingest_s": round(ingest_s, 1),
        "entities_s": round(entities_s, 1),
        "chunks": sum(g.build["chunks"] for g in groups),
        "store_mb": round(dir_size_mb(store), 1),
    }


def key_of(answer: dict[str, Any]) -> Key:
    return (
        str(answer.get("answer") or ""),
        answer.get("short_answer"),
        tuple(str(c.get("chunk_id")) for c in answer.get("citations") or []),
    )


def references(store: Path, groups: list[Group], embed_model: Any) -> float:
    """Each question answered by a single-collection pipeline in this process; seconds taken."""
    from rag.pipeline import build
    from rag.settings import load, on_collection

    settings = load(None, store={"path": store}, llm={"backend": "extractive"})
    t0 = time.perf_counter()
    for group in groups:
        pipeline = build(on_collection(settings, group.name), embed_model=embed_model)
        try:
            for ask in group.asks:
                answer = pipeline.qa.ask(ask.question, backend="extractive", as_of=ask.as_of)
                ask.reference = key_of(answer.model_dump(mode="json"))
        finally:
            pipeline.close()
            pipeline.store.release()
    return time.perf_counter() - t0


# --- a server ---------------------------------------------------------------------------------------
class Server:
    """A real `rag serve` on 127.0.0.1 (stopped by `close`)."""

    def __init__(self, work: Path, env: dict[str, str], log_name: str) -> None:
        import httpx

        self.proc, self.url, self.log = start_serve(work, env, log_name=log_name)
        self.client = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT)
        self.timings: dict[str, float] = {}  # the last answer's, seconds per stage

    def wait_ready(self, timeout: float = START_TIMEOUT) -> float:
        import httpx

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.client.get("/v1/health", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(
            f"the server did not start in {timeout:.0f}s:\n{self.log.read_text()[-3000:]}"
        )

    def memory(self) -> dict[str, float]:
        return memory_mb(self.proc.pid)

    def gauge(self) -> int | None:
        """`rag_open_collections` of /v1/metrics (None if the line is missing)."""
        r = self.client.get("/v1/metrics", timeout=10)
        r.raise_for_status()
        m = re.search(r"^rag_open_collections\s+(\S+)", r.text, re.M)
        return int(float(m[1])) if m else None

    def ask(self, path: str, ask: Ask) -> tuple[float, Key | None, str]:
        """(seconds, the answer's key or None, an error text or "")."""
        import httpx

        body = {"question": ask.question, "as_of": ask.as_of.isoformat(), "backend": "extractive"}
        t0 = time.perf_counter()
        try:
            r = self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            return time.perf_counter() - t0, None, f"{type(exc).__name__}: {exc}"
        took = time.perf_counter() - t0
        if r.status_code != 200:
            return took, None, f"{r.status_code}: {r.text[:300]}"
        answer = r.json()
        self.timings = {k: round(v, 4) for k, v in (answer.get("timings") or {}).items()}
        return took, key_of(answer), ""

    def close(self) -> None:
        self.client.close()
        stop(self.proc)


def compare(ask: Ask, got: Key | None, error: str, where: str) -> dict[str, Any] | None:
    """None when the served answer is the reference; else what differs."""
    if got is not None and got == ask.reference:
        return None
    ref = ask.reference or ("", None, ())
    out: dict[str, Any] = {"where": where, "question_id": ask.id, "question": ask.question}
    if error:
        out["error"] = error
        return out
    assert got is not None
    for name, a, b in zip(("answer", "short_answer", "chunk_ids"), ref, got, strict=True):
        if a != b:
            out[name] = {"reference": a, "served": b}
    return out


def one_server(args: argparse.Namespace, store: Path, groups: list[Group]) -> dict[str, Any]:
    """Every collection asked of one `rag serve`; then its idle collections closed."""
    env = serve_env(store) | {
        "RAG_SERVER__MAX_OPEN_COLLECTIONS": str(len(groups)),
        "RAG_SERVER__COLLECTION_IDLE_SECONDS": str(args.idle),
    }
    server = Server(args.work, env, "server-all.log")
    out: dict[str, Any] = {}
    try:
        out["startup_s"] = round(server.wait_ready(), 1)
        # a warm-up of the default collection (the answer processes' first answer loads caches),
        # as a user's server would have had; no other collection is opened by it
        server.client.post("/v1/query", json={"question": "What did the council decide?"})
        time.sleep(2)
        out["before"] = server.memory() | {"open_collections": server.gauge()}
        print(
            f"one server up at {server.url} in {out['startup_s']} s; before any collection: "
            f"{out['before']['total_rss_mb']} MB, gauge {out['before']['open_collections']}",
            flush=True,
        )
        latencies: list[float] = []
        opening: list[float] = []
        differ: list[dict[str, Any]] = []
        each: list[dict[str, Any]] = []
        same = same_quiz = quiz = errors = 0
        t0 = time.perf_counter()
        for group in groups:
            for i, ask in enumerate(group.asks):
                took, got, error = server.ask(f"/v1/collections/{group.name}/query", ask)
                errors += bool(error)
                (opening if i == 0 else latencies).append(took)
                each.append(
                    {
                        "collection": group.name,
                        "id": ask.id,
                        "ms": round(took * 1000, 1),
                        "opened_it": i == 0,
                        "timings_s": {} if error else server.timings,
                    }
                )
                diff = compare(ask, got, error, group.name)
                if diff is None:
                    same += 1
                    same_quiz += not ask.probe
                else:
                    differ.append(diff)
                quiz += not ask.probe
            print(
                f"  {group.name}: {len(group.asks)} asked, first (opens it) "
                f"{opening[-1] * 1000:.0f} ms; total RSS {server.memory()['total_rss_mb']} MB, "
                f"gauge {server.gauge()}",
                flush=True,
            )
        asked_s = time.perf_counter() - t0
        every = latencies + opening
        # with a short --idle the first collections may have been closed before the last was
        # asked: each is asked its first question again, so that all are open when measured
        gauge_after_pass = server.gauge()
        touch: list[float] = []
        touch_differ: list[dict[str, Any]] = []
        for group in groups:
            took, got, error = server.ask(f"/v1/collections/{group.name}/query", group.asks[0])
            touch.append(took)
            errors += bool(error)
            diff = compare(group.asks[0], got, error, f"{group.name} (asked again)")
            if diff is not None:
                touch_differ.append(diff)
        out["after_all"] = server.memory() | {
            "open_collections": server.gauge(),
            "open_collections_after_first_pass": gauge_after_pass,
        }
        out["asked_again"] = {
            "questions": len(touch),
            "differ": len(touch_differ),
            "differences": touch_differ,
            "p50_ms": round(pct(touch, 0.5) * 1000, 1),
            "max_ms": round(max(touch) * 1000, 1),
        }
        out["questions"] = {
            "asked": len(every),
            "quiz": quiz,
            "probes": len(every) - quiz,
            "identical": same,
            "identical_quiz": same_quiz,
            "differ": len(differ),
            "errors": errors,
            "differences": differ,
            "seconds": round(asked_s, 1),
            "p50_ms": round(pct(every, 0.5) * 1000, 1),
            "p95_ms": round(pct(every, 0.95) * 1000, 1),
            "first_of_collection_p50_ms": round(pct(opening, 0.5) * 1000, 1),
            "first_of_collection_p95_ms": round(pct(opening, 0.95) * 1000, 1),
            "open_collection_p50_ms": round(pct(latencies, 0.5) * 1000, 1),
            "open_collection_p95_ms": round(pct(latencies, 0.95) * 1000, 1),
            "each": each,
        }
        print(
            f"after all {len(groups)} collections (gauge {gauge_after_pass} after the pass; each "
            f"asked one question again): {out['after_all']['total_rss_mb']} MB (peak "
            f"{out['after_all']['total_peak_mb']} MB), gauge {out['after_all']['open_collections']}; "
            f"{same}/{len(every)} answers identical to the reference, "
            f"{len(touch) - len(touch_differ)}/{len(touch)} asked again",
            flush=True,
        )

        wait = args.idle * 1.5 + 10
        print(f"waiting {wait:.0f} s for the idle collections to be closed …", flush=True)
        time.sleep(wait)
        gauge = server.gauge()
        polled = 0.0
        t1 = time.perf_counter()
        while gauge != 0 and polled < GAUGE_WAIT_MAX:
            time.sleep(2)
            gauge = server.gauge()
            polled = time.perf_counter() - t1
        out["after_closing"] = server.memory() | {
            "open_collections": gauge,
            "waited_s": round(wait + polled, 1),
        }
        print(
            f"after closing: {out['after_closing']['total_rss_mb']} MB, gauge {gauge} "
            f"(waited {wait + polled:.0f} s)",
            flush=True,
        )
        # a closed collection opens again on its next question, with the same answer
        group = groups[0]
        took, got, error = server.ask(f"/v1/collections/{group.name}/query", group.asks[0])
        diff = compare(group.asks[0], got, error, f"{group.name} (reopened)")
        out["reopened"] = {
            "collection": group.name,
            "ms": round(took * 1000, 1),
            "identical": diff is None,
            "difference": diff,
            "open_collections": server.gauge(),
        }
        return out
    finally:
        server.close()


def single_servers(args: argparse.Namespace, store: Path, groups: list[Group]) -> dict[str, Any]:
    """One `rag serve` per collection, for the first SINGLE_MEASURED collections, one at a time."""
    runs: list[dict[str, Any]] = []
    for group in groups[:SINGLE_MEASURED]:
        env = serve_env(store) | {"RAG_STORE__COLLECTION": group.name}
        server = Server(args.work, env, f"server-{group.name}.log")
        try:
            startup = server.wait_ready()
            before = server.memory()
            lat: list[float] = []
            differ = []
            for ask in group.asks:
                took, got, error = server.ask("/v1/query", ask)
                lat.append(took)
                diff = compare(ask, got, error, f"{group.name} (own server)")
                if diff is not None:
                    differ.append(diff)
            after = server.memory()
        finally:
            server.close()
        runs.append(
            {
                "collection": group.name,
                "startup_s": round(startup, 1),
                "before": before,
                "after": after,
                "asked": len(group.asks),
                "differ": len(differ),
                "differences": differ,
                "p50_ms": round(pct(lat, 0.5) * 1000, 1),
            }
        )
        print(
            f"own server for {group.name}: up in {startup:.1f} s, after answering "
            f"{after['total_rss_mb']} MB (server {after['server_rss_mb']} MB + "
            f"{after['children']} child process(es) {after['children_rss_mb']} MB)",
            flush=True,
        )
    mean = sum(r["after"]["total_rss_mb"] for r in runs) / len(runs)
    return {
        "measured": len(runs),
        "runs": runs,
        "mean_total_rss_mb": round(mean, 1),
        "extrapolated_servers": len(groups),
        "extrapolated_total_rss_mb": round(mean * len(groups), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.collections",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "realtimeqa-2023",
        help="the RealTimeQA folder (corpus.jsonl.gz, questions.jsonl); default %(default)s",
    )
    ap.add_argument("--collections", type=int, default=20, help="collections (default 20)")
    ap.add_argument(
        "--articles", type=int, default=200, help="articles per collection (default 200)"
    )
    ap.add_argument(
        "--questions", type=int, default=5, help="at most this many per collection (default 5)"
    )
    ap.add_argument(
        "--work",
        type=Path,
        help="folder for the store, the collections' files and the servers' logs (absent or "
        "empty; default a temporary folder); removed at the end unless --keep",
    )
    ap.add_argument("--keep", action="store_true", help="keep the --work folder at the end")
    ap.add_argument(
        "--idle",
        type=float,
        default=30.0,
        help="RAG_SERVER__COLLECTION_IDLE_SECONDS of the server (at least 30; default 30)",
    )
    ap.add_argument(
        "--out",
        default="collections",
        help="result name: bench/results/NAME.json (default %(default)s)",
    )
    args = ap.parse_args()
    if args.collections < 1 or args.articles < 1 or args.questions < 1:
        ap.error("--collections, --articles and --questions must be at least 1")
    if args.collections > 99:
        ap.error("--collections: at most 99 (named c00 to c98)")
    if not 30 <= args.idle <= 3600:
        ap.error("--idle must be in [30, 3600] seconds (the product's minimum is 30)")
    if (
        not (args.data / "corpus.jsonl.gz").is_file()
        or not (args.data / "questions.jsonl").is_file()
    ):
        ap.error(f"--data {args.data}: corpus.jsonl.gz and questions.jsonl expected")
    if args.work is None:
        args.work = Path(tempfile.mkdtemp(prefix="rag-bench-collections-"))
    elif args.work.exists() and (not args.work.is_dir() or any(args.work.iterdir())):
        ap.error(f"--work {args.work} is not an empty folder")
    else:
        args.work.mkdir(parents=True, exist_ok=True)
    args.work = args.work.resolve()
    # this process's settings are the servers' (bench.common.serve_env): none of the developer's
    for name in [n for n in os.environ if n.startswith(("RAG_", "OPENAI_"))]:
        del os.environ[name]
    store = args.work / "store"
    try:
        result = run(args, store)
    finally:
        if not args.keep:  # the folder was made for this run, or was empty
            shutil.rmtree(args.work, ignore_errors=True)
        else:
            print(f"kept {args.work}")
    path = write_result(args.out, result)
    one = result["one_server"]
    bad = (
        one["questions"]["differ"]
        + one["asked_again"]["differ"]
        + (0 if one["reopened"]["identical"] else 1)
        + sum(r["differ"] for r in result["single_servers"]["runs"])
    )
    closed = one["after_closing"]["open_collections"] == 0
    print(f"wrote {path}" + ("" if closed else "; the gauge did not fall to 0"))
    sys.exit(1 if bad or not closed else 0)


def run(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    from rag.embeddings import backends
    from rag.settings import EmbedSettings

    groups, source = make_groups(args.data, args.collections, args.articles, args.questions)
    quiz = sum(not a.probe for g in groups for a in g.asks)
    print(
        f"{len(groups)} collections of {args.articles} articles ({source['first_date']} to "
        f"{source['last_date']}, the newest of {source['dated_articles']} dated articles); "
        f"{quiz} quiz questions, {sum(a.probe for g in groups for a in g.asks)} probe(s); "
        f"work folder {args.work}",
        flush=True,
    )
    embed_model = backends.build(EmbedSettings(models_dir=ROOT / "models"))
    build = build_store(store, args.work, groups, embed_model)
    print(
        f"built in {build['seconds']} s (ingest {build['ingest_s']} s, entity tables "
        f"{build['entities_s']} s), {build['chunks']} chunks, store {build['store_mb']} MB",
        flush=True,
    )
    ref_s = references(store, groups, embed_model)
    print(f"reference answers (in-process, one collection at a time) in {ref_s:.1f} s", flush=True)

    one = one_server(args, store, groups)
    single = single_servers(args, store, groups)

    after = one["after_all"]["total_rss_mb"]
    extrapolated = single["extrapolated_total_rss_mb"]
    ratio = round(extrapolated / after, 2) if after else None
    q = one["questions"]
    rows = [
        ("one server, before any collection", f"{one['before']['total_rss_mb']} MB"),
        (
            f"one server, all {len(groups)} collections open",
            f"{after} MB (gauge {one['after_all']['open_collections']}; "
            f"{one['after_all']['open_collections_after_first_pass']} after the first pass)",
        ),
        ("one server, peak (VmHWM summed)", f"{one['after_all']['total_peak_mb']} MB"),
        (
            "one server, after idle closing",
            f"{one['after_closing']['total_rss_mb']} MB "
            f"(gauge {one['after_closing']['open_collections']})",
        ),
        (
            f"one server per collection, mean of {single['measured']} measured",
            f"{single['mean_total_rss_mb']} MB",
        ),
        (
            f"{len(groups)} servers, EXTRAPOLATED from {single['measured']} measured",
            f"{extrapolated} MB ({ratio}x the one server with all open)",
        ),
        (
            "answers identical to the reference",
            f"{q['identical']}/{q['asked']} "
            f"(quiz {q['identical_quiz']}/{q['quiz']}), errors {q['errors']}",
        ),
        ("latency p50 / p95 (all questions)", f"{q['p50_ms']} / {q['p95_ms']} ms"),
        (
            "first question of a collection (opens it) p50 / p95",
            f"{q['first_of_collection_p50_ms']} / {q['first_of_collection_p95_ms']} ms",
        ),
        (
            "question to an open collection p50 / p95",
            f"{q['open_collection_p50_ms']} / {q['open_collection_p95_ms']} ms",
        ),
        (
            "each collection asked again, p50 / max",
            f"{one['asked_again']['p50_ms']} / {one['asked_again']['max_ms']} ms, "
            f"{one['asked_again']['differ']} differ",
        ),
        (
            "reopened after closing",
            f"{one['reopened']['ms']} ms, identical: {one['reopened']['identical']}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    for diff in q["differences"][:10]:
        print(f"  differs: {json.dumps(diff, ensure_ascii=False)[:400]}")
    return {
        "config": {
            "data": str(args.data),
            "collections": len(groups),
            "articles_per_collection": args.articles,
            "max_questions_per_collection": args.questions,
            "date_slack_days": DATE_SLACK_DAYS,
            "idle_seconds": args.idle,
            "max_open_collections": len(groups),
            "answer_processes": "the product's default",
        },
        "source": source,
        "collections": [
            {
                "name": g.name,
                "first_date": g.first.isoformat(),
                "last_date": g.last.isoformat(),
                "quiz_questions": sum(not a.probe for a in g.asks),
                "probe": any(a.probe for a in g.asks),
                **g.build,
            }
            for g in groups
        ],
        "build": build,
        "reference_s": round(ref_s, 1),
        "one_server": one,
        "single_servers": single,
        "comparison": {
            "one_server_all_open_rss_mb": after,
            "one_server_peak_mb": one["after_all"]["total_peak_mb"],
            "one_server_after_closing_rss_mb": one["after_closing"]["total_rss_mb"],
            "single_server_mean_rss_mb": single["mean_total_rss_mb"],
            "single_servers_total_rss_mb_extrapolated": extrapolated,
            "extrapolated_from_measured_servers": single["measured"],
            "ratio_extrapolated_to_one_server": ratio,
        },
    }


if __name__ == "__main__":
    main()
