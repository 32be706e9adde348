"""Write a derived news archive of N articles for scale runs: the real RealTimeQA articles (both
corpora, read as `rag ingest` reads them) and, to reach N, copies of them changed so that they are
new articles, not duplicates: copy k of an article has every capitalised word that is not the
first of its sentence replaced through a fixed shuffle of the corpus's capitalised words (names,
places, organisations), every number shifted by k, its date moved k x 37 days, and a new id and
url. A paragraph with neither a name nor a number stays as it was, so the product's paragraph
dedup still folds those (as it would fold a wire story's repeated boilerplate); the script prints
how many paragraphs of the copies are unchanged.

    python -m bench.derive 100000 /work/derived/corpus-100k.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA

CORPORA = [DATA / "corpus.jsonl.gz", DATA.parent / "realtimeqa-2022-2024" / "corpus.jsonl.gz"]
NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b")
NUMBER = re.compile(r"\d+")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, help="articles in all")
    ap.add_argument("out", type=Path, help="a .jsonl.gz to write")
    args = ap.parse_args()
    from index.intake import intake

    real = intake(CORPORA).articles
    names = sorted({w for a in real[:3000] for w in NAME.findall(a.text)})
    rng = random.Random(7)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written = same = paragraphs = 0
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        k = 0
        while written < args.n:
            shuffled = names[:]
            rng.shuffle(shuffled)
            swap = dict(zip(names, shuffled, strict=True))
            for a in real:
                if written >= args.n:
                    break
                if k == 0:
                    paras = a.paragraphs
                    title, day, art_id = a.title, a.date, a.id
                else:
                    paras = [_change(p, swap, k) for p in a.paragraphs]
                    paragraphs += len(paras)
                    same += sum(p == q for p, q in zip(paras, a.paragraphs, strict=True))
                    title, art_id = _change(a.title, swap, k), f"{a.id}-d{k}"
                    day = a.date + timedelta(days=37 * k) if a.date else None
                record = {
                    "id": art_id,
                    "title": title,
                    "text": "\n\n".join(paras),
                    "published": day.isoformat() if day else None,
                    "source": a.source,
                }
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
            k += 1
    share = same / paragraphs if paragraphs else 0.0
    print(
        f"wrote {written} articles to {args.out}: {len(real)} real, {written - len(real)} derived "
        f"in {k - 1} rounds; {share:.1%} of the derived paragraphs are unchanged"
    )


def _change(text: str, swap: dict[str, str], k: int) -> str:
    text = NAME.sub(lambda m: swap.get(m.group(0), m.group(0)), text)
    return NUMBER.sub(lambda m: str(int(m.group(0)) + k), text)


if __name__ == "__main__":
    main()
