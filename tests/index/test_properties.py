"""Properties that hold for any input (hypothesis): the line reader equals splitting on newlines,
the JSON-lines loader never raises and never keeps more than its limits, cleaning keeps only
words of its input, and chunks stay within their token budget and lose no word of the text."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import tiktoken
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index.clean import clean
from index.loaders import Article, Limits, LoadProblem, bounded_lines, load_jsonl

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
lines_text = st.text(alphabet=st.sampled_from(list('ab é\n\t{}"\\x')), max_size=400)


@QUICK
@given(lines_text, st.integers(min_value=1, max_value=30))
@example("  \n", 1)  # a blank line too long is reported as too long (found by hypothesis)
@example("  ", 1)  # also as the last line
def test_bounded_lines_is_splitting_on_newlines(text: str, longest: int) -> None:
    expected = [
        (n, None if len(line) > longest else line)
        for n, line in enumerate(text.split("\n"), 1)
        if line.strip() or len(line) > longest
    ]
    got = list(bounded_lines(io.StringIO(text), Limits(line_chars=longest)))
    assert got == expected


@QUICK
@given(st.lists(st.one_of(st.binary(max_size=60), st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["id", "title", "text", "published", "url"]),
    st.one_of(st.text(max_size=40), st.integers(), st.none()),
))), max_size=12), st.integers(min_value=1, max_value=5))  # fmt: skip
def test_the_jsonl_loader_never_raises_and_keeps_its_limits(
    tmp_path_factory, rows: list[bytes | str], records: int
) -> None:  # type: ignore[no-untyped-def]
    path = Path(tmp_path_factory.mktemp("jsonl")) / "rows.jsonl"
    path.write_bytes(b"\n".join(r if isinstance(r, bytes) else r.encode() for r in rows))
    items = list(load_jsonl(path, Limits(records=records, line_chars=200)))
    assert all(isinstance(i, Article | LoadProblem) for i in items)
    assert sum(isinstance(i, Article) for i in items) <= records


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


@QUICK
@given(st.text(max_size=600))
def test_cleaning_keeps_only_words_of_its_input(text: str) -> None:
    out = clean(text)
    kept = " ".join(out.paragraphs)
    assert words(kept) <= words(text)
    assert all(p == p.strip() and p for p in out.paragraphs)


@QUICK
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
                min_size=1, max_size=6))  # fmt: skip
def test_chunks_keep_their_budget_and_every_word(paragraphs: list[str]) -> None:
    from llama_index.core import Document

    from index.ingest import make_splitter
    from rag.settings import load

    cfg = load(None, chunk={"size": 64, "overlap": 8})
    text = "\n\n".join(paragraphs)
    nodes = make_splitter(cfg).get_nodes_from_documents([Document(text=text)])
    enc = tiktoken.get_encoding("cl100k_base")
    assert all(len(enc.encode(n.get_content())) <= 64 for n in nodes)
    assert words(text) <= words(" ".join(n.get_content() for n in nodes))
