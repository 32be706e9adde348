"""Make a follow-up question standalone, with no model: what to answer and what to search with.

`rewrite(question, history)` returns (question to answer, query to retrieve with). Pronouns take
the last person named in the earlier user turns; an elliptical "And … ?" carries the previous
question into both; a question that still points back ("it", "that attack") or names nothing of
its own ("By when must the core part be met?") searches with the previous question beside it,
while the question to answer stays as asked, so the earlier question's words do not pick an
extractive answer's sentences. Pure functions over strings; nothing here retrieves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text.rules import names

_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|they|them|their)\b", re.I)
_POSSESSIVE = ("his", "her", "their", "hers")
_FOLLOW = re.compile(r"^\s*(and|what about|how about|also|and what about)\b", re.I)
# Words that point back at something said before without naming it.
_REFERS_BACK = re.compile(r"\b(it|its|this|that|these|those|then|there|the same)\b", re.I)


MAX_NAME = 80  # characters: a longer run of capitalised words is no name to put in the question
MAX_EARLIER = 2000  # characters of the earlier question a follow-up is searched with


def rewrite(question: str, history: Sequence[dict[str, str]] | None) -> tuple[str, str]:
    """(question to answer, query to retrieve with) for `question` after `history`."""
    if not history:
        return question, question
    users = [h.get("content", "") for h in history if h.get("role") == "user"]
    people = [n for n in names(" ".join(users[-2:])) if len(n) <= MAX_NAME]
    out = question
    if people and _PRONOUN.search(out):
        person = people[0]
        out = _PRONOUN.sub(
            lambda m: person + ("'s" if m.group(1).lower() in _POSSESSIVE else ""), out, count=1
        )
    if not users:
        return out, out
    context = f"{out} (following up on: {users[-1][:MAX_EARLIER]})"
    if _FOLLOW.match(question):
        return context, context
    if _REFERS_BACK.search(out) or not names(out):
        return out, context
    return out, out
