"""Question sets for the harness, all loaded into one record type, `GoldRecord`.

Three sources:

- the project's gold JSONL (`evals/gold/seeds.jsonl`): one question a line with `id`, `user_input`,
  `reference`, `key_facts` (each a string or a list of acceptable forms), `reference_context_ids`
  (article ids), `answerable`, `history` (earlier turns), `tags` and `date` (YYYY-MM-DD: the
  question is asked as of that day, as `rag feedback export` writes it). Every field is validated and a
  problem is reported with the file and line number (all problems at once, not just the first);
- llama-index's `LabelledRagDataset` JSON (`rag_dataset.json`: `examples[].query`,
  `reference_answer`, `reference_contexts`). The installed llama-index-core (0.14) no longer ships
  the `llama_dataset` module, so the file format it writes is read here directly. Such records are
  answerable, have no key facts (they are scored by reference-answer token overlap) and no article
  ids (no retrieval metrics);
- RealTimeQA (`../shared/data/realtimeqa-2023/`): its quiz questions with their choices, and which
  of them are answerable given the corpus (the answer text occurs, case-insensitively, in one of the
  question's `article_ids` articles), plus a reproducible choice of articles for `--limit` runs.
  An answerable question is also tagged by how fresh that support is: `support:recent` when one
  of those articles was published in the RECENT_DAYS before the question's date (the week's
  news is in the corpus), `support:older` when only older articles carry the answer text (often
  by coincidence: an old story that names the same country or team), so that a report can tell
  the two apart.

This module reads and validates files; it does not run questions, score answers or write anything.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import RagError
from rag.text.dates import parse_date

T = TypeVar("T")

GOLD_DIR = Path(__file__).resolve().parent / "gold"
SEEDS_GOLD = GOLD_DIR / "seeds.jsonl"
REALTIMEQA_DIR = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realtimeqa-2023"
)

GOLD_FIELDS = (
    "id",
    "user_input",
    "reference",
    "key_facts",
    "reference_context_ids",
    "answerable",
    "history",
    "tags",
    "date",
)
_REQUIRED = ("id", "user_input", "answerable")
_ROLES = ("user", "assistant")


class DatasetError(RagError):
    """A question file is missing, unreadable or has invalid records (the message says where)."""


@dataclass
class GoldRecord:
    """One evaluation question. Field names follow ragas' `SingleTurnSample` where they overlap."""

    id: str
    user_input: str
    reference: str = ""
    key_facts: list[list[str]] = field(default_factory=list)  # each fact: acceptable forms
    reference_context_ids: list[str] = field(default_factory=list)
    answerable: bool = True
    history: list[dict[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    reference_contexts: list[str] = field(default_factory=list)
    # RealTimeQA only: the quiz's choices and the correct one(s), and when it was asked
    choices: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    date: str = ""


# --- the project's gold JSONL ---------------------------------------------------------------------


def _str_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{name}' must be a list of strings")
    return list(value)


def _key_facts(value: Any) -> list[list[str]]:
    if not isinstance(value, list):
        raise ValueError("'key_facts' must be a list (of strings, or lists of acceptable forms)")
    facts: list[list[str]] = []
    for i, fact in enumerate(value):
        forms = [fact] if isinstance(fact, str) else fact
        if (
            not isinstance(forms, list)
            or not forms
            or not all(isinstance(f, str) and f.strip() for f in forms)
        ):
            raise ValueError(
                f"'key_facts'[{i}] must be a non-empty string or a non-empty list of them"
            )
        facts.append([f.strip() for f in forms])
    return facts


def _history(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ValueError('\'history\' must be a list of {"role", "content"} turns')
    turns: list[dict[str, str]] = []
    for i, turn in enumerate(value):
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in _ROLES
            or not isinstance(turn.get("content"), str)
        ):
            raise ValueError(
                f'\'history\'[{i}] must be {{"role": "user"|"assistant", "content": str}}'
            )
        turns.append({"role": turn["role"], "content": turn["content"]})
    return turns


def gold_record(obj: Any) -> GoldRecord:
    """Validate one parsed gold line; ValueError says which field is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(obj) - set(GOLD_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(unknown)}; the fields are {', '.join(GOLD_FIELDS)}"
        )
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    if not isinstance(obj["id"], str) or not obj["id"].strip():
        raise ValueError("'id' must be a non-empty string")
    if not isinstance(obj["user_input"], str) or not obj["user_input"].strip():
        raise ValueError("'user_input' must be a non-empty string (the question)")
    if not isinstance(obj["answerable"], bool):
        raise ValueError("'answerable' must be true or false")
    reference = obj.get("reference", "")
    if not isinstance(reference, str):
        raise ValueError("'reference' must be a string")
    day = obj.get("date", "")
    if not isinstance(day, str) or (day and parse_date(day) is None):
        raise ValueError("'date' must be a day such as 2025-06-05 (the question is asked as of it)")
    rec = GoldRecord(
        id=obj["id"].strip(),
        user_input=obj["user_input"].strip(),
        reference=reference,
        key_facts=_key_facts(obj.get("key_facts", [])),
        reference_context_ids=_str_list(
            obj.get("reference_context_ids", []), "reference_context_ids"
        ),
        answerable=obj["answerable"],
        history=_history(obj.get("history", [])),
        tags=_str_list(obj.get("tags", []), "tags"),
        date=day,
    )
    if rec.answerable and not (rec.key_facts or rec.reference):
        raise ValueError("an answerable question needs 'key_facts' or a 'reference' to score")
    if not rec.answerable and rec.key_facts:
        raise ValueError("an unanswerable question cannot have 'key_facts'")
    return rec


def read_json(path: Path, error: type[RagError], what: str) -> Any:
    """A whole JSON file; `error` says `cannot read WHAT PATH: why` or `PATH:line: not valid JSON`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def json_lines(lines: list[str], where: Path, problems: list[str]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line; a line that is not JSON is added to
    `problems` as `file:line: not valid JSON (why)` and skipped."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}:{n}: not valid JSON ({exc.msg} at column {exc.colno})")


def load_gold(path: Path) -> list[GoldRecord]:
    """Every record of a gold JSONL file; DatasetError lists each bad line as `file:line: why`."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the gold set {path}: {exc}") from None
    records: list[GoldRecord] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for n, obj in json_lines(lines, path, problems):
        try:
            rec = gold_record(obj)
        except ValueError as exc:
            problems.append(f"{path}:{n}: {exc}")
            continue
        if rec.id in seen:
            problems.append(f"{path}:{n}: duplicate id {rec.id!r} (first on line {seen[rec.id]})")
            continue
        seen[rec.id] = n
        records.append(rec)
    if problems:
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise DatasetError("invalid gold set:\n  " + "\n  ".join(shown))
    if not records:
        raise DatasetError(f"the gold set {path} has no questions")
    return records


# --- llama-index LabelledRagDataset JSON ----------------------------------------------------------


def load_labelled_rag_dataset(path: Path) -> list[GoldRecord]:
    """Records from a `LabelledRagDataset.save_json()` file (`{"examples": [...]}`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list):
        raise DatasetError(
            f"{path}: not a LabelledRagDataset file (expected an object with an 'examples' list)"
        )
    records: list[GoldRecord] = []
    problems: list[str] = []
    for i, ex in enumerate(examples):
        where = f"{path}: examples[{i}]"
        if not isinstance(ex, dict):
            problems.append(f"{where}: not a JSON object")
            continue
        query, ref = ex.get("query"), ex.get("reference_answer")
        contexts = ex.get("reference_contexts") or []
        if not isinstance(query, str) or not query.strip():
            problems.append(f"{where}: 'query' must be a non-empty string")
            continue
        if not isinstance(ref, str) or not ref.strip():
            problems.append(f"{where}: 'reference_answer' must be a non-empty string")
            continue
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            problems.append(f"{where}: 'reference_contexts' must be a list of strings")
            continue
        by = ex.get("query_by") or {}
        tags = [f"by-{by['type']}"] if isinstance(by, dict) and by.get("type") else []
        records.append(
            GoldRecord(
                id=f"{path.stem}-{i + 1:03d}",
                user_input=query.strip(),
                reference=ref.strip(),
                reference_contexts=list(contexts),
                answerable=True,
                tags=tags,
            )
        )
    if problems:
        raise DatasetError("invalid LabelledRagDataset:\n  " + "\n  ".join(problems[:20]))
    if not records:
        raise DatasetError(f"{path} has no examples")
    return records


def load_path(path: Path) -> list[GoldRecord]:
    """A gold .jsonl or a LabelledRagDataset .json, chosen by the file name."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no such question file: {path}")
    if path.suffix == ".jsonl":
        return load_gold(path)
    if path.suffix == ".json":
        return load_labelled_rag_dataset(path)
    raise DatasetError(
        f"{path}: use a gold .jsonl file or a LabelledRagDataset rag_dataset.json file"
    )


# --- RealTimeQA ------------------------------------------------------------------------------------


@dataclass
class RealTimeQA:
    """The quiz questions (as GoldRecords with choices/answers) and where the corpus is.

    `supporting[qid]` lists the question's articles that contain its answer text; a question is
    answerable when that list is not empty."""

    data_dir: Path
    records: list[GoldRecord]
    supporting: dict[str, list[str]]

    @property
    def name(self) -> str:
        """The data folder's name when it says which RealTimeQA set it is, else 'realtimeqa'."""
        return self.data_dir.name if self.data_dir.name.startswith("realtimeqa") else "realtimeqa"

    @property
    def corpus_path(self) -> Path:
        return self.data_dir / "corpus.jsonl.gz"

    def answerable(self) -> list[GoldRecord]:
        return [r for r in self.records if r.answerable]

    def select_articles(self, limit: int | None) -> list[str] | None:
        """Article ids for a `--limit` run: answerable questions spread over the whole set (so a
        set of several years samples each), each bringing all of its search results (its
        supporting articles and the ones that only look related), while they fit. None when
        there is no limit (the whole corpus)."""
        if not limit:
            return None
        chosen: dict[str, None] = {}
        for rec in spread(self.answerable()):
            new = [a for a in rec.reference_context_ids if a not in chosen]
            if len(chosen) + len(new) > limit:
                if not chosen:
                    new = new[:limit]
                else:
                    continue
            chosen.update(dict.fromkeys(new))
            if len(chosen) >= limit:
                break
        return list(chosen)


def spread(items: list[T]) -> list[T]:
    """The items in an order whose every prefix is spread over the whole list: the middle, then
    the quarters, then the eighths… (a deterministic, even sample of any length)."""
    n = len(items)
    order: list[int] = []
    seen: set[int] = set()
    step = 1
    while len(order) < n:
        for k in range(step):
            i = (2 * k + 1) * n // (2 * step)
            if i not in seen:
                seen.add(i)
                order.append(i)
        step *= 2
        if step > 2 * n:
            order += [i for i in range(n) if i not in seen]
            break
    return [items[i] for i in order]


def iter_corpus(path: Path, ids: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """The corpus rows (optionally only those ids), in file order."""
    wanted = set(ids) if ids is not None else None
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise DatasetError(f"{path}:{n}: not valid JSON") from None
                if wanted is None or row.get("id") in wanted:
                    yield row
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read the RealTimeQA corpus {path}: {exc}") from None


RECENT_DAYS = 30


def _freshness(support: list[str], published: dict[str, date | None], asked: object) -> str:
    """`support:recent` when an article carrying the answer was published in the RECENT_DAYS up
    to the question's date, else `support:older` (also when the dates are unknown)."""
    day = parse_date(asked)
    recent = day is not None and any(
        (d := published.get(a)) is not None and 0 <= (day - d).days <= RECENT_DAYS for a in support
    )
    return "support:recent" if recent else "support:older"


def load_realtimeqa(data_dir: Path = REALTIMEQA_DIR) -> RealTimeQA:
    """Questions, with answerability computed against the corpus (about 632 of 1,429)."""
    data_dir = Path(data_dir)
    qpath = data_dir / "questions.jsonl"
    if not qpath.is_file() or not (data_dir / "corpus.jsonl.gz").is_file():
        raise DatasetError(
            f"no RealTimeQA data in {data_dir} (questions.jsonl and corpus.jsonl.gz expected)"
        )
    raw: list[dict[str, Any]] = []
    problems: list[str] = []
    for n, q in json_lines(qpath.read_text(encoding="utf-8").splitlines(), qpath, problems):
        if not (
            isinstance(q, dict)
            and isinstance(q.get("id"), str)
            and isinstance(q.get("question"), str)
            and isinstance(q.get("choices"), list)
            and isinstance(q.get("answer"), list)
            and q["answer"]
            and isinstance(q.get("article_ids"), list)
        ):
            problems.append(f"{qpath}:{n}: needs id, question, choices, answer (list), article_ids")
            continue
        raw.append(q)
    if problems:
        raise DatasetError("invalid RealTimeQA questions:\n  " + "\n  ".join(problems[:20]))
    needed = {a for q in raw for a in q["article_ids"]}
    texts: dict[str, str] = {}
    published: dict[str, date | None] = {}
    for row in iter_corpus(data_dir / "corpus.jsonl.gz", needed):
        texts[str(row["id"])] = str(row.get("text") or "").lower()  # the README's rule
        published[str(row["id"])] = parse_date(row.get("published") or row.get("date"))
    records: list[GoldRecord] = []
    supporting: dict[str, list[str]] = {}
    for q in raw:
        answers = [str(a) for a in q["answer"]]
        support = [
            a
            for a in q["article_ids"]
            if a in texts and any(ans.lower() in texts[a] for ans in answers if ans.strip())
        ]
        supporting[q["id"]] = support
        records.append(
            GoldRecord(
                id=q["id"],
                user_input=q["question"].strip(),
                reference=answers[0],
                key_facts=[answers],
                reference_context_ids=[str(a) for a in q["article_ids"]],
                answerable=bool(support),
                tags=["answerable" if support else "unanswerable"]
                + ([_freshness(support, published, q.get("date"))] if support else []),
                choices=[str(c) for c in q["choices"]],
                answers=answers,
                date=str(q.get("date") or ""),
            )
        )
    return RealTimeQA(data_dir=data_dir, records=records, supporting=supporting)
