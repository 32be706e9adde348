"""How soon news that arrives can be asked about: a file dropped into a watched folder, beside
the same article sent to `POST /v1/articles` (what a user would script without the watch).

Starts a real `rag serve --watch DIR` on a copy of a store (the seeds' by default, or `--store`
for an archive), then, for each of N new articles (made from templates with distinct places and
numbers, so none is a duplicate), writes it into DIR and asks about it until the answer cites
it, and deletes it and asks until no answer cites it; then sends N more through the API and asks
until cited. Prints and writes (bench/results/arrival.json, or arrival-archive.json with --store) seconds to answerable (p50, max) for
both ways, and seconds to forgotten after a delete.

    python -m bench.arrival [-n 10] [--store DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, serve_env, start_serve, write_result
from tests.helpers.processes import stop_process as stop

PLACES = ["Elwin", "Vanholm", "Tollerton", "Pellick", "Ostry", "Marrow", "Stonebridge", "Kettle"]
THINGS = ["ferry", "library", "museum", "footbridge", "market hall", "bus station", "pier"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def article(i: int) -> tuple[str, str, str]:
    """(file stem, text, question) of the i-th made-up article."""
    place, thing = PLACES[i % len(PLACES)] + str(i), THINGS[i % len(THINGS)]
    text = (
        f"Title: {place} {thing} reopens\n\n"
        f"The {thing} in {place} reopened on {DAYS[i % 7]} after {i + 3} weeks of repairs "
        f"costing {40 + i} thousand pounds, the council said.\n\n"
        f"Residents of {place} had campaigned for the {thing} to reopen before the summer."
    )
    return f"arrival-{i}", text, f"When did the {thing} in {place} reopen?"


def wait_for(api: str, question: str, ok: Callable[[list[dict[str, Any]]], bool]) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < 120:
        r = httpx.post(api + "/query", json={"question": question}, timeout=60)
        if r.status_code == 200 and ok(r.json()["citations"]):
            return time.perf_counter() - start
        time.sleep(0.1)
    raise SystemExit(f"not answered within 120 s: {question}")


def cites(stem: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda cs: any(stem in str(c.get("location", "")) for c in cs)


def summary(times: list[float]) -> dict[str, float]:
    return {"p50_s": round(statistics.median(times), 2), "max_s": round(max(times), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10, help="articles each way (default 10)")
    ap.add_argument("--store", type=Path, help="an indexed store to copy (default: the seeds)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-arrival-") as tmp:
        work = Path(tmp)
        store, inbox = work / "store", work / "inbox"
        inbox.mkdir()
        if args.store:
            shutil.copytree(args.store, store)
        else:
            shutil.copytree(ROOT / "seeds", work / "seeds")
        proc, base, log = start_serve(work, serve_env(store), args=["--watch", str(inbox)])
        try:
            deadline = time.time() + 600
            while time.time() < deadline:
                try:
                    if httpx.get(base + "/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    raise SystemExit(log.read_text())
                time.sleep(0.5)
            api = base + "/v1"
            dropped, forgotten, posted = [], [], []
            for i in range(args.n):
                stem, text, question = article(i)
                (inbox / f"{stem}.txt").write_text(text, encoding="utf-8")
                dropped.append(wait_for(api, question, cites(stem)))
                (inbox / f"{stem}.txt").unlink()
                forgotten.append(wait_for(api, question, lambda cs, s=stem: not cites(s)(cs)))
                print(f"{stem}: answerable {dropped[-1]:.2f} s, forgotten {forgotten[-1]:.2f} s")
            for i in range(args.n, 2 * args.n):
                stem, text, question = article(i)
                start = time.perf_counter()
                files = {"files": (f"{stem}.txt", text.encode())}
                r = httpx.post(api + "/articles", files=files, timeout=120)
                r.raise_for_status()
                posted.append(time.perf_counter() - start + wait_for(api, question, cites(stem)))
                print(f"{stem}: answerable {posted[-1]:.2f} s after POST /v1/articles began")
        finally:
            stop(proc)
    result = {
        "articles_each_way": args.n,
        "store": str(args.store or "seeds"),
        "watched_folder_to_answerable": summary(dropped),
        "deleted_file_to_not_cited": summary(forgotten),
        "post_articles_to_answerable": summary(posted),
    }
    out = write_result("arrival-archive" if args.store else "arrival", result)
    print(
        f"watched folder: answerable p50 {result['watched_folder_to_answerable']['p50_s']} s "
        f"(max {result['watched_folder_to_answerable']['max_s']}); deleted: not cited p50 "
        f"{result['deleted_file_to_not_cited']['p50_s']} s; POST /v1/articles: p50 "
        f"{result['post_articles_to_answerable']['p50_s']} s -> {out}"
    )


if __name__ == "__main__":
    main()
