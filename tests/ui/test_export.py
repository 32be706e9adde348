"""A conversation as Markdown (`ui.export`): numbered citations across its answers, one source
list with title, date, source, URL or file and the quoted sentence, article text kept as text."""

from __future__ import annotations

from datetime import date

from rag.answering.answer import Answer, Citation


def cite(number: int, chunk: str, quote: str, **kw: str) -> Citation:
    fields = {"title": "Nato summit", "date": "2025-06-05", "source": "bbc.co.uk"} | kw
    return Citation(
        number=number, article_id=chunk.split("#")[0], chunk_id=chunk, quote=quote, **fields
    )


def test_citations_are_numbered_across_the_conversation_and_listed_once() -> None:
    from ui.export import conversation_markdown

    first = Answer(
        question="What did Hegseth say about 5%?",
        short_answer="almost near consensus",
        answer="He expected “almost near consensus” [1], though some *lag* [2].",
        citations=[
            cite(1, "a#1", "almost near consensus", location="https://example.org/nato"),
            cite(2, "b#4", "A few countries are not quite there yet.", location="seeds/b.txt"),
        ],
        backend="extractive",
        model="-",
        as_of="2025-06-10",
    )
    second = Answer(
        question="And the UK?",
        answer="Starmer agreed [1]; see also the earlier quote [2] and [7].",
        citations=[
            cite(1, "c#2", "Starmer agreed to 5%.", title="UK [update]"),
            cite(2, "a#1", "almost near consensus", location="https://example.org/nato"),
        ],
        backend="extractive",
        model="-",
    )
    text = conversation_markdown([first, second], collection="politics", day=date(2026, 12, 6))
    assert text.startswith("# News Q&A (politics), exported 2026-12-06\n")
    assert "## 1. What did Hegseth say about 5%?" in text and "**almost near consensus**" in text
    assert "consensus” [1], though some \\*lag\\* [2]." in text  # article text stays text
    assert "Starmer agreed [3]; see also the earlier quote [1] and \\[7\\]." in text
    sources = text.split("## Sources\n", 1)[1]
    assert sources.count("almost near consensus") == 1  # one passage, one entry
    assert (
        "1. **Nato summit**, 2025-06-05, bbc.co.uk, <https://example.org/nato>\n"
        "   > almost near consensus"
    ) in sources
    assert "2. **Nato summit**, 2025-06-05, bbc.co.uk, `seeds/b.txt`" in sources
    assert "3. **UK \\[update\\]**" in sources
    assert "_As of 2025-06-10._" in text


def test_a_declined_answer_exports_without_a_source_list() -> None:
    from ui.export import conversation_markdown

    declined = Answer(
        question="What did Macron say?",
        answer="The articles don't mention Emmanuel Macron.",
        declined=True,
        backend="extractive",
        model="-",
    )
    text = conversation_markdown([declined], day=date(2026, 12, 6))
    assert "The articles don't mention Emmanuel Macron." in text and "## Sources" not in text
