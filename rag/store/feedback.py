"""What readers say of answers, kept beside the collection so that it can become test questions.

A `Feedback` is a verdict on one answer (`up` or `down`), optionally the answer that was expected
and the numbers of the citations that do not support their claim. `FeedbackBook` keeps them in
one SQLite file per collection (`Layout.feedback`), with the question, its as-of date and the
answer given, so nothing else is needed to turn them into a gold question file:
`gold_records` writes what `rag eval --dataset FILE` runs. With the server store
(`RAG_STORE__URL`), `PgFeedbackBook` keeps them in the collection's schema on PostgreSQL, so that
what a reader says through any machine is in one place (`feedback_book` picks). A thumbs-down with an expected answer
becomes a question whose key fact is that answer; a thumbs-up one whose key facts are the short
answer given (or its quoted sentences) and whose supporting articles are those it cited; a
thumbs-down without an expected answer is listed but not exported (nobody has said yet what the
right answer is).
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.settings import Settings
from rag.store import postgres
from rag.store.layout import Layout
from rag.store.sqlite import transaction

VERDICTS = ("up", "down")
MAX_TEXT = 4000  # characters of an expected answer or a note

_TABLE = """
CREATE TABLE IF NOT EXISTS feedback (
    id {id},
    created TEXT NOT NULL,
    question TEXT NOT NULL,
    as_of TEXT,
    verdict TEXT NOT NULL,
    expected TEXT NOT NULL DEFAULT '',
    unsupported TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL,
    who TEXT NOT NULL DEFAULT ''
)
"""
SCHEMA = _TABLE.format(id="INTEGER PRIMARY KEY AUTOINCREMENT")
PG_SCHEMA = _TABLE.format(id="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")


@dataclass(frozen=True)
class Feedback:
    question: str
    verdict: str
    answer: dict[str, Any]  # the Answer given, as JSON (`rag.answering.answer.Answer`)
    as_of: str | None = None
    expected: str = ""
    unsupported: list[int] = field(default_factory=list)  # citation numbers
    note: str = ""
    who: str = ""  # the key id it came with ('' without keys)
    id: int | None = None
    created: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {self.verdict!r}")
        if not self.question.strip():
            raise ValueError("the question is empty")
        for name in ("expected", "note"):
            if len(getattr(self, name)) > MAX_TEXT:
                raise ValueError(f"{name} is longer than {MAX_TEXT} characters")
        numbers = {c.get("number") for c in self.answer.get("citations", [])}
        unknown = [n for n in self.unsupported if n not in numbers]
        if unknown:
            raise ValueError(f"the answer has no citation {unknown[0]}")

    def gold(self) -> dict[str, Any] | None:
        """This feedback as a gold question (`evals.dataset` format), or None when it says
        nothing a test could check (a thumbs-down without the expected answer)."""
        cited = [
            c for c in self.answer.get("citations", []) if c.get("number") not in self.unsupported
        ]
        tags = ["feedback", f"feedback-{self.verdict}"] + (
            ["unsupported-citation"] if self.unsupported else []
        )
        record: dict[str, Any] = {
            "id": f"feedback-{self.id}",
            "user_input": self.question,
            "answerable": True,
            "tags": tags,
        }
        if self.as_of:
            record["date"] = self.as_of
        if self.expected.strip():
            record |= {"reference": self.expected.strip(), "key_facts": [self.expected.strip()]}
        elif self.verdict == "up" and not self.answer.get("declined"):
            short = (self.answer.get("short_answer") or "").strip()
            quotes = [c["quote"] for c in cited if c.get("quote")][:2]
            facts = [short] if short else quotes
            if not facts:
                return None
            record |= {"reference": self.answer.get("answer", ""), "key_facts": facts}
        elif self.verdict == "up":  # a decline the reader agreed with: it should still decline
            record |= {"answerable": False, "reference": self.answer.get("answer", "")}
            return record
        else:
            return None
        ids = list(dict.fromkeys(c["article_id"] for c in cited if c.get("article_id")))
        if ids and not self.expected.strip():
            record["reference_context_ids"] = ids
        return record


class FeedbackBook:
    """The feedback of one collection (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _db(self) -> AbstractContextManager[Any]:
        return transaction(self.path, SCHEMA)

    def _exists(self) -> bool:
        return self.path.exists()

    def add(self, item: Feedback) -> Feedback:
        """Keep `item`; it comes back with its id and time."""
        created = datetime.now(UTC).replace(microsecond=0).isoformat()
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO feedback (created, question, as_of, verdict, expected, unsupported,"
                " note, answer, who) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    created,
                    item.question,
                    item.as_of,
                    item.verdict,
                    item.expected,
                    json.dumps(item.unsupported),
                    item.note,
                    json.dumps(item.answer, ensure_ascii=False),
                    item.who,
                ),
            )
            new_id = int(cur.fetchone()[0])
        return Feedback(**{**asdict(item), "id": new_id, "created": created})

    def all(self) -> list[Feedback]:
        """Every feedback, oldest first."""
        if not self._exists():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT id, created, question, as_of, verdict, expected, unsupported, note,"
                " answer, who FROM feedback ORDER BY id"
            ).fetchall()
        return [
            Feedback(
                id=r[0],
                created=r[1],
                question=r[2],
                as_of=r[3],
                verdict=r[4],
                expected=r[5],
                unsupported=json.loads(r[6]),
                note=r[7],
                answer=json.loads(r[8]),
                who=r[9],
            )
            for r in rows
        ]

    def gold_records(self) -> tuple[list[dict[str, Any]], list[Feedback]]:
        """The gold questions the feedback makes, and the feedback left out (no expected answer)."""
        made, left = [], []
        for item in self.all():
            record = item.gold()
            if record is None:
                left.append(item)
            else:
                made.append(record)
        return made, left


class PgFeedbackBook(FeedbackBook):
    """The feedback of one collection on the PostgreSQL server of the server store, in the
    collection's schema beside its ledger (dropped with it)."""

    def __init__(self, url: str, collection: str) -> None:
        self.url, self.collection = url, collection

    def _db(self) -> AbstractContextManager[Any]:
        return postgres.transaction(self.url, postgres.schema_of(self.collection), PG_SCHEMA)

    def _exists(self) -> bool:
        return True


def feedback_book(settings: Settings) -> FeedbackBook:
    """The collection's feedback: on the PostgreSQL server where the books are
    (`RAG_STORE__URL`, shared by every machine), else the file beside the store."""
    url = postgres.server_url(settings)
    if url is None:
        return FeedbackBook(Layout.of(settings).feedback)
    return PgFeedbackBook(url, settings.store.collection)
