"""Ingestion speed, side by side: the product's `rag ingest` path against the stock llama-index
pipeline a user would write, on the same articles, chunk settings and machine, in one run.

Stock: `IngestionPipeline([SentenceSplitter(180, 30), all-MiniLM-L6-v2 int8])` into a
`ChromaVectorStore` (the same embedded Chroma), one `Document` per cleaned article.
Product: the whole `rag ingest` job, `index.ingest.ingest` with the configured embedding
(RAG_EMBED__MODEL; the default is the static model distilled from the same MiniLM), duplicate
folding, ingestion state, chunk records, and the named entities of every new sentence tagged as it
writes (RAG_INGEST__TAG_PROCESSES worker processes, waited for: the store it leaves answers at full
speed), then the BM25 index built and saved as `rag ingest` leaves it. `--no-tagging` times the
product without the tagging too (the job before the tagging was counted in it).

Each run is a fresh store in its own subprocess (so peak RSS is its own); the two alternate,
`--rounds` times, and the ratio of the medians is printed and written to
bench/results/ingest_vs_stock.json. Times on this shared machine are noisy: trust the ratio
within one run more than any absolute number.

    .venv/bin/python bench/ingest_vs_stock.py --limit 300 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA, dir_size_mb, peak_rss_mb, write_result

KINDS = ("product", "product-no-tagging", "stock")


def _articles(limit: int) -> list:
    from index.ingest import IngestReport, load_articles

    return load_articles([DATA / "corpus.jsonl.gz"], IngestReport())[:limit]


def run_stock(limit: int, store: Path) -> dict:
    import chromadb
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.embeddings.minilm import MiniLMEmbedding

    articles = _articles(limit)
    t0 = time.perf_counter()
    docs = [
        Document(text="\n\n".join(a.paragraphs), metadata={"title": a.title}, id_=a.id)
        for a in articles
    ]
    client = chromadb.PersistentClient(path=str(store))
    collection = client.get_or_create_collection("stock")
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=180, chunk_overlap=30), MiniLMEmbedding()],
        vector_store=ChromaVectorStore(chroma_collection=collection),
    )
    nodes = pipeline.run(documents=docs)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "chunks": len(nodes)}


def run_product(limit: int, store: Path, tag: bool = True) -> dict:
    from index.ingest import ingest
    from rag.embeddings import backends
    from rag.jobs.bm25 import after_ingest
    from rag.settings import load

    articles = _articles(limit)
    t0 = time.perf_counter()
    settings = load(None, store={"path": store, "collection": "bench"})
    embed = backends.build(settings.embed)
    report = ingest([], settings, embed, articles=articles, progress=False, tag=tag)
    after_ingest(settings, report.chunks_added)  # what `rag ingest` does next (small: nothing)
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "chunks": report.chunks_added, "model": embed.model_name}
    if report.tagged is not None:
        out["tagged_sentences"] = report.tagged["sentences"]
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out["tagger_peak_rss_mb"] = round(children, 1)
    return out


def child(which: str, limit: int) -> None:
    store = Path(tempfile.mkdtemp(prefix=f"bench-{which}-"))
    if which == "stock":
        out = run_stock(limit, store)
    else:
        out = run_product(limit, store, tag=which == "product")
    out.update(peak_rss_mb=round(peak_rss_mb(), 1), disk_mb=round(dir_size_mb(store), 1))
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--limit", type=int, default=300, help="the first N articles (default 300)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each, alternating (default 2)")
    ap.add_argument(
        "--no-tagging",
        action="store_true",
        help="time the product without tagging named entities too (the job before they counted)",
    )
    ap.add_argument("--child", choices=[*KINDS], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.limit)
        return
    kinds = [k for k in KINDS if k != "product-no-tagging" or args.no_tagging]
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for r in range(args.rounds):
        for which in kinds:
            done = subprocess.run(
                [sys.executable, __file__, "--child", which, "--limit", str(args.limit)],
                check=True,
                capture_output=True,
                text=True,
            )
            runs[which].append(json.loads(done.stdout.strip().splitlines()[-1]))
            last = runs[which][-1]
            tagger = (
                f" (taggers {last['tagger_peak_rss_mb']:.0f} MB each)"
                if "tagger_peak_rss_mb" in last
                else ""
            )
            print(
                f"round {r + 1} {which:18s} {last['seconds']:7.1f} s  {last['chunks']} chunks  "
                f"peak {last['peak_rss_mb']:.0f} MB{tagger}  disk {last['disk_mb']:.0f} MB",
                flush=True,
            )
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in runs.items()}
    ratio = med["stock"] / med["product"]
    print(
        f"{args.limit} articles: product {med['product']:.1f} s with its tagging, stock "
        f"{med['stock']:.1f} s (medians): the whole job {ratio:.1f}x as fast"
    )
    if "product-no-tagging" in med:
        print(
            f"without the tagging: {med['product-no-tagging']:.1f} s, "
            f"{med['stock'] / med['product-no-tagging']:.1f}x as fast as stock"
        )
    out = write_result(
        "ingest_vs_stock",
        {
            "articles": args.limit,
            "chunk_size_tokens": 180,
            "chunk_overlap_tokens": 30,
            "runs": runs,
            "median_seconds": {k: round(v, 1) for k, v in med.items()},
            "speedup": round(ratio, 2),
            "tagging_included": True,
        },
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
