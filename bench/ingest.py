"""Benchmark ingestion and retrieval quality on the RealTimeQA 2023 corpus.

Ingests ../shared/data/realtimeqa-2023/corpus.jsonl.gz (7,534 articles; --limit for less) into a
fresh store, then prints and writes bench/results/ingest.json: articles/s, chunks/s, the embedding
model's raw throughput on a sample of the same chunks (the ceiling), the share of chunks longer than
the model's 256 word pieces, peak memory, index size on disk, and answer-recall@5/@10 (the correct
answer's text occurs in one of the top-k passages) for BM25 alone, dense alone and hybrid, on the
answerable questions (answer text in one of the question's listed articles that were ingested).
The full corpus takes about an hour on 2 cores: run it in the background.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA, dir_size_mb, peak_rss_mb, write_result


def answerable(questions_path: Path, texts: dict[str, str]) -> list[dict]:
    out = []
    for line in questions_path.read_text().splitlines():
        q = json.loads(line)
        answers = [a for a in q.get("answer", []) if a]
        if not answers:
            continue
        ans = answers[0].lower()
        if any(ans in texts.get(aid, "") for aid in q.get("article_ids", [])):
            out.append({"question": q["question"], "answer": ans, "id": q["id"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--limit", type=int, help="ingest only the first N articles")
    ap.add_argument("--store", type=Path, help="store folder (default: a fresh temp dir)")
    ap.add_argument(
        "--reuse", action="store_true", help="keep what --store holds (measures only new work)"
    )
    ap.add_argument("--sample", type=int, default=1000, help="chunks to time the raw embedding on")
    ap.add_argument("--questions", type=int, help="evaluate at most N questions")
    args = ap.parse_args()

    import rag  # noqa: F401
    from index.ingest import IngestReport, ingest, load_articles
    from rag.embeddings import backends
    from rag.pipeline import build
    from rag.settings import load

    store_dir = args.store or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = load(None, store={"path": store_dir, "collection": "realtimeqa"})
    embed = backends.build(settings.embed)

    t0 = time.perf_counter()
    articles = load_articles([DATA / "corpus.jsonl.gz"], IngestReport())
    if args.limit:
        articles = articles[: args.limit]
    t_load = time.perf_counter() - t0
    print(f"loaded and cleaned {len(articles)} articles in {t_load:.1f}s", flush=True)

    t1 = time.perf_counter()
    report = ingest(
        [DATA / "corpus.jsonl.gz"], settings, embed, articles=articles, rebuild=not args.reuse
    )
    t_ingest = time.perf_counter() - t1
    print(report.summary(), flush=True)

    pipe = build(settings, embed_model=embed)
    nodes = list(pipe.retriever._bm25.nodes.values())
    from llama_index.core.schema import MetadataMode

    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    sample = random.Random(0).sample(texts, min(args.sample, len(texts)))
    t2 = time.perf_counter()
    embed.embed(sample)  # type: ignore[attr-defined]
    raw_rate = len(sample) / (time.perf_counter() - t2)
    over = sum(embed.count_tokens(t) > 256 for t in sample) / max(1, len(sample))  # type: ignore[attr-defined]

    full_text = {a.id: "\n".join([a.title, *a.paragraphs]).lower() for a in articles}
    qs = answerable(DATA / "questions.jsonl", full_text)
    if args.questions:
        qs = qs[: args.questions]
    recall: dict[str, dict[str, float]] = {}
    latency: dict[str, float] = {}
    for mode in ("bm25", "dense", "hybrid"):
        hits5 = hits10 = 0
        t3 = time.perf_counter()
        for q in qs:
            passages = pipe.retriever.retrieve(q["question"], top_k=10, mode=mode)
            found = [q["answer"] in (p.title + "\n" + p.text).lower() for p in passages]
            hits5 += any(found[:5])
            hits10 += any(found[:10])
        latency[mode] = (time.perf_counter() - t3) / max(1, len(qs)) * 1000
        recall[mode] = {
            "@5": round(hits5 / max(1, len(qs)), 3),
            "@10": round(hits10 / max(1, len(qs)), 3),
        }

    chunks = report.chunks_added
    result = {
        "articles": len(articles),
        "chunks": chunks,
        "chunk_size_tokens": settings.chunk.size,
        "chunk_overlap_tokens": settings.chunk.overlap,
        "load_clean_seconds": round(t_load, 1),
        "ingest_seconds": round(t_ingest, 1),
        "articles_per_s": round(len(articles) / t_ingest, 2) if t_ingest else None,
        "chunks_per_s": round(chunks / t_ingest, 2) if t_ingest else None,
        "raw_embed_chunks_per_s": round(raw_rate, 2),
        "raw_embed_sample": len(sample),
        "share_over_256_wordpieces": round(over, 3),
        "duplicate_paragraphs": report.duplicate_paragraphs,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "index_mb": round(dir_size_mb(store_dir), 1),
        "questions_answerable": len(qs),
        "answer_recall": recall,
        "retrieval_ms_per_question": {k: round(v, 1) for k, v in latency.items()},
    }
    name = "ingest" if not args.limit else f"ingest-limit{args.limit}"
    out = write_result(name, result)
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
