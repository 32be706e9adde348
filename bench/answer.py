"""Benchmark `rag ask` latency per answer backend on the seed articles (warm process).

For each backend that can run here: extractive (always), local (llama.cpp with models/*.gguf from
`make model-local`, else the SmolLM2 test model) it asks questions from evals/gold/seeds.jsonl in
one process after a warm-up, and prints p50/p95 of the whole ask (retrieval + answer) and of each
stage; for the local model also prompt and decode tokens/s as llama.cpp reports them. Writes
bench/results/answer.json. With `--store DIR` it measures the extractive backend on an archive
already indexed there instead (the RealTimeQA collection that `rag eval --dataset realtimeqa
--store DIR` builds), asking `-n` of the dataset's answerable questions, each as of its own date,
and writes bench/results/answer-archive.json, with the named entities that short answers need
read from the store's entity table (`rag entities`) side by side with tagging them while asked. The openai backend is the same code path as local (an OpenAI-compatible
server), so it is measured through it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, peak_rss_mb, write_result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[idx]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("-n", type=int, default=40, help="questions for the extractive backend")
    ap.add_argument("--llm-n", type=int, default=6, help="questions for the local model")
    ap.add_argument(
        "--model", type=Path, help="GGUF for the local backend (default: models/*.gguf)"
    )
    ap.add_argument(
        "--store",
        type=Path,
        help="an indexed RealTimeQA store: measure extractive answers over it (no local model)",
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "realtimeqa-2023",
        help="the RealTimeQA folder whose questions --store is asked (default: realtimeqa-2023)",
    )
    args = ap.parse_args()
    if args.store:
        archive(args)
        return

    import rag  # noqa: F401
    from index.ingest import ingest
    from rag.answering.llamacpp import LlamaServer, find_model, packaged_model
    from rag.pipeline import build
    from rag.settings import load
    from rag.spans.tagging import warm

    store = Path(tempfile.mkdtemp(prefix="rag-bench-answer-"))
    settings = load(None, store={"path": store}, llm={"backend": "extractive"})
    from rag.embeddings.backends import build as build_embed

    embed = build_embed(settings.embed)
    ingest([ROOT / "seeds"], settings, embed, progress=False)
    pipe = build(settings, embed_model=embed)
    gold = [
        json.loads(line)
        for line in (ROOT / "evals" / "gold" / "seeds.jsonl").read_text().splitlines()
        if line.strip()
    ]
    questions = [g["user_input"] for g in gold if not g.get("history")]

    results: dict[str, dict[str, object]] = {}

    def run(backend: str, qs: list[str], label: str | None = None) -> None:
        label = label or backend
        pipe.qa.ask(qs[0], backend=backend)  # warm-up
        warm()  # spaCy's pipelines, as `rag serve` loads them at start
        totals, stages = [], {"retrieve": [], "generate": []}  # type: ignore[var-annotated]
        tokens = fallbacks = declined = 0
        for q in qs:
            t0 = time.perf_counter()
            a = pipe.qa.ask(q, backend=backend)
            totals.append(time.perf_counter() - t0)
            for k in stages:
                if k in a.timings:
                    stages[k].append(a.timings[k])
            if a.tokens:
                tokens += a.tokens.get("completion", 0)
            fallbacks += bool(a.notice and "instead" in a.notice)
            declined += a.declined
        results[label] = {
            "questions": len(qs),
            "p50_ms": round(pct(totals, 0.5) * 1000, 1),
            "p95_ms": round(pct(totals, 0.95) * 1000, 1),
            "mean_ms": round(statistics.mean(totals) * 1000, 1),
            "stage_p50_ms": {k: round(pct(v, 0.5) * 1000, 1) for k, v in stages.items() if v},
            "completion_tokens": tokens,
            "fell_back_to_extractive": fallbacks,
            "declined": declined,
        }
        print(label, json.dumps(results[label]), flush=True)

    run("extractive", (questions * 2)[: args.n])

    model = (
        find_model(args.model)
        if args.model
        else (sorted(Path("models").glob("*.gguf")) or [packaged_model()])[0]
    )
    if model is not None:
        srv = LlamaServer(model, threads=2, context=4096)
        t0 = time.perf_counter()
        url = srv.start()
        startup = time.perf_counter() - t0
        try:
            pipe.settings.llm.base_url = url
            pipe.settings.llm.model = model.stem
            pipe.settings.llm.max_tokens = 150
            # what the local backend does: an OpenAI-compatible client to llama.cpp on loopback
            run("openai", questions[: args.llm_n], label="local")
            import openai

            client = openai.OpenAI(base_url=url, api_key="x")
            resp = client.chat.completions.create(
                model=model.stem,
                messages=[
                    {
                        "role": "user",
                        "content": "Write about 120 words on why NATO members argue about defence budgets.",
                    }
                ],
                max_tokens=160,
                temperature=0,
            )
            timings = (resp.model_extra or {}).get("timings", {})
            results["local"]["model"] = model.name
            results["local"]["server_startup_s"] = round(startup, 1)
            results["local"]["prompt_tokens_per_s"] = round(
                float(timings.get("prompt_per_second", 0)), 1
            )
            results["local"]["decode_tokens_per_s"] = round(
                float(timings.get("predicted_per_second", 0)), 1
            )
            print(
                "local model",
                model.name,
                "decode tok/s",
                results["local"]["decode_tokens_per_s"],
                "prompt tok/s",
                results["local"]["prompt_tokens_per_s"],
            )
        finally:
            srv.stop()
    results["peak_rss_mb"] = {"value": round(peak_rss_mb(), 1)}
    out = write_result("answer", {"backends": results})
    print(f"written to {out}")


def archive(args: argparse.Namespace) -> None:
    """Extractive answers over an archive already indexed in `args.store`, warm: named entities
    read from the store's entity table (`rag entities`) side by side with tagging them while
    asked (each with its own caches; questions interleaved, the order alternating)."""
    import rag  # noqa: F401
    from evals.dataset import load_realtimeqa, spread
    from evals.harness import realtimeqa_settings
    from rag.answering.extractive import ExtractiveAnswerer
    from rag.embeddings.backends import build as build_embed
    from rag.pipeline import build
    from rag.settings import load
    from rag.spans.entities import EntityTable, table_path
    from rag.spans.tagging import warm
    from rag.text.dates import parse_date

    settings = realtimeqa_settings(load(None, llm={"backend": "extractive"}), args.store)
    t0 = time.perf_counter()
    embed = build_embed(settings.embed)
    pipe = build(settings, embed_model=embed)
    opened = time.perf_counter() - t0
    table = EntityTable(table_path(settings.store))
    table_sentences, table_chunks = table.counts()
    modes = {
        "entity table": ExtractiveAnswerer(embed, table),
        "tagged live": ExtractiveAnswerer(embed),
    }
    records = spread(load_realtimeqa(args.data).answerable())[: args.n]
    answerers = pipe.qa.answerers

    def ask(mode: str, rec: object) -> object:
        answerers.extractive = answerers._live["extractive"] = modes[mode]
        as_of = parse_date(rec.date) if rec.date else None  # type: ignore[attr-defined]
        return pipe.qa.ask(rec.user_input, backend="extractive", as_of=as_of)  # type: ignore[attr-defined]

    for mode in modes:
        ask(mode, records[0])  # warm-up
    warm()  # spaCy's pipelines, as `rag serve` loads them at start
    totals: dict[str, list[float]] = {m: [] for m in modes}
    stages: dict[str, dict[str, list[float]]] = {m: {} for m in modes}
    declined = dict.fromkeys(modes, 0)
    same = 0
    for i, rec in enumerate(records):
        order = list(modes) if i % 2 == 0 else list(reversed(modes))
        answers = {}
        for mode in order:
            t1 = time.perf_counter()
            a = ask(mode, rec)
            totals[mode].append(time.perf_counter() - t1)
            for k, v in a.timings.items():  # type: ignore[attr-defined]
                stages[mode].setdefault(k, []).append(v)
            declined[mode] += a.declined  # type: ignore[attr-defined]
            answers[mode] = (a.answer, a.short_answer)  # type: ignore[attr-defined]
        same += len(set(answers.values())) == 1
    result: dict[str, object] = {
        "store": str(args.store),
        "data": args.data.name,
        "chunks": pipe.store.count(),
        "open_s": round(opened, 1),
        "questions": len(records),
        "entity_table": {"sentences": table_sentences, "chunks": table_chunks},
        "same_answers": same,
    }
    for mode, answerer in modes.items():
        t = totals[mode]
        result[mode] = {
            "p50_ms": round(pct(t, 0.5) * 1000, 1),
            "p95_ms": round(pct(t, 0.95) * 1000, 1),
            "mean_ms": round(statistics.mean(t) * 1000, 1),
            "stage_p50_ms": {k: round(pct(v, 0.5) * 1000, 1) for k, v in stages[mode].items()},
            "stage_p95_ms": {k: round(pct(v, 0.95) * 1000, 1) for k, v in stages[mode].items()},
            "declined": declined[mode],
            "sentences_from_table": answerer.tagger.looked_up,
            "sentences_tagged_live": answerer.tagger.tagged,
        }
    live, read = result["tagged live"], result["entity table"]
    result["speedup_p50"] = round(live["p50_ms"] / read["p50_ms"], 2)  # type: ignore[index]
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result, indent=1), flush=True)
    print(f"written to {write_result('answer-archive', result)}")


if __name__ == "__main__":
    main()
