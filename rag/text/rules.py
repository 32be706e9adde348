"""Sentence-level text helpers shared by the answerers: splitting that keeps quotes whole,
content-word extraction, names in a question, and instruction-like text in articles.

Pure functions over strings; nothing here knows about stores, models or HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from rag.text import places
from rag.text.dates import DAYS, MONTHS

_BOUNDARY = re.compile(r"(?<=[.!?])([”\"’']?)\s+(?=[“\"‘'(\[A-Z0-9£$€])")
_STOP = frozenset(
    """
    a an the and or but if then of to in on at by for with from as is are was were be been being
    it its this that these those he she they them his her their we you i me my our your what
    which who whom whose when where why how did do does done say said says tell told about any
    some there here not no yes than so such can could would should will shall may might must has
    have had also just into over under after before more most much many other very up down out
    off again further according article articles report reported reports news
    """.split()
)


def split_sentences(text: str) -> list[str]:
    """Exact substrings of `text`, one per sentence; a quotation that spans sentences stays whole."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n|\n", text):
        para = para.strip()
        if not para:
            continue
        pieces: list[str] = []
        last = 0
        for m in _BOUNDARY.finditer(para):
            end = m.start() + len(m.group(1))
            pieces.append(para[last:end].strip())
            last = m.end()
        pieces.append(para[last:].strip())
        merged: list[str] = []
        for piece in pieces:
            if merged and _open_quote(merged[-1]):
                merged[-1] = merged[-1] + " " + piece
            else:
                merged.append(piece)
        out.extend(p for p in merged if p)
    return out


_TYPOGRAPHY = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′", "'"),
        **dict.fromkeys("“”„‟″", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
    }
)


def fold(text: str) -> str:
    """Curly quotes and dashes made plain, lower case, runs of spaces made one."""
    return " ".join(text.translate(_TYPOGRAPHY).lower().split())


def normalize(text: str) -> str:
    """The form two copies of a paragraph or sentence share: `fold`, then punctuation dropped."""
    return re.sub(r"[^\w%$£€ ]+", "", fold(text)).strip()


def _open_quote(s: str) -> bool:
    return s.count("“") > s.count("”") or s.count('"') % 2 == 1


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


_PERCENT = re.compile(r"(\d)\s*(?:per\s*cent|percent|pct)\b", re.I)


def percent_signs(text: str) -> str:
    """'5 per cent', '5 percent' and '5pct' written as '5%' (for matching, not for display)."""
    return _PERCENT.sub(r"\1%", text)


def terms(text: str) -> list[str]:
    """Stemmed content words (numbers and percentages kept, spelled-out ones normalised:
    '5%', '5 per cent' and '5 percent' -> '5%')."""
    text = percent_signs(text.lower())
    words = re.findall(r"\d+(?:\.\d+)?%?|[A-Za-z][A-Za-z'’-]*", text)
    words = [w.replace("’", "'").removesuffix("'s") for w in words]
    words = [w for w in words if w not in _STOP and (len(w) > 1 or w[0].isdigit())]
    return list(_stemmer().stemWords(words))


_NAME = re.compile(r"\b([A-Z][a-zA-Z’'-]+(?:\s+[A-Z][a-zA-Z’'-]+)*)")
_NOT_NAMES = frozenset(
    """
    What Which Who Whom Whose When Where Why How Did Does Do Is Are Was Were Will Would Can
    Could Should And But The A An In On At Of For According Tell Give List Name Has Have Had By
    Besides After Before During Since From To With Between Both Apart Also Please Summarise
    Summarize Explain
    """.split()
) | {w.capitalize() for w in (*DAYS, *MONTHS)}


# words that open a sentence without being names: "… this week. Around how many workers …"
_OPENERS = frozenset(
    """
    around approximately roughly nearly almost all some both each every many few true false
    despite following under among amid during since until while although though once today
    now currently meanwhile however still yet finally overall altogether instead including
    """.split()
)


def _opens_sentence(question: str, at: int) -> bool:
    before = question[:at].rstrip()
    return not before or before[-1] in '.?!:;"“'


def common_word(word: str) -> bool:
    """A word that, capitalised at a sentence's start, is no name ('Will', 'Around', 'Only')."""
    low = word.lower()
    return low in _STOP or low in _OPENERS or low.endswith("ly")


def names(question: str) -> list[str]:
    """Capitalised words of a question that look like names ('Emmanuel Macron', 'Hegseth'); the
    question's first word, question words, months and weekdays are not names, nor is a common
    word that opens one of its sentences ("… this week. Around how many …", "He said …")."""
    found: list[str] = []
    first = True
    for m in _NAME.finditer(question):
        words = [re.sub(r"['’]s?$", "", w) for w in m.group(1).split()]
        at_start = first and m.start() == len(question) - len(question.lstrip())
        if at_start or (_opens_sentence(question, m.start()) and common_word(words[0])):
            words = words[1:]
        first = False
        words = [w for w in words if w and w not in _NOT_NAMES]
        if words:
            found.append(" ".join(words))
    return found


_ACRONYM_DOTS = re.compile(r"(?<=\b[A-Za-z])\.(?=[A-Za-z]\b\.?)")


# "Australian" is said of Australia, "European" of Europe, "Chinese" of China
_DEMONYM = re.compile(r"(?<=\w{4})(?:ian|ean|an|ese|ish|i)s?$")


def mentions(text: str, name: str) -> bool:
    """Whether any part of a name ('Emmanuel Macron': 'Emmanuel' or 'Macron') occurs in text
    ('US' is found in 'U.S.', 'Australian' in 'Australia')."""
    low = _ACRONYM_DOTS.sub("", text).lower()
    return any(
        re.search(rf"\b{re.escape(_DEMONYM.sub('', part.lower().replace('.', '')))}", low)
        for part in name.split()
        if len(part) > 1
    )


def spoken_of(text: str, name: str) -> bool:
    """`mentions`; or the words an acronym stands for ("Major League Baseball" for "MLB"); or,
    for a country's name, the text names it otherwise or a place in it ("the U.S." or
    "California" for "US"); for a region's, a country or a big city in it ("Doha" for "the
    Middle East")."""
    return (
        mentions(text, name)
        or (_ACRONYM.fullmatch(name) is not None and _spelled_out(name).search(text) is not None)
        or places.in_country(text, name)
        or places.in_region(text, name)
    )


def about_names(text: str, named: Sequence[str]) -> bool:
    """Whether a text speaks of what a question names: all of it, or all but one of three or
    more names (a passage is a part of an article, and rarely repeats every name)."""
    needed = len(named) if len(named) <= 2 else len(named) - 1
    return sum(spoken_of(text, n) for n in named) >= needed


_ACRONYM = re.compile(r"[A-Z]{2,6}")


def stands_for(acronym: str, name: str) -> bool:
    """Whether an acronym is the initials of a name ("GM" of "General Motors", "FDA" of "the
    Food and Drug Administration"), the small words between them aside."""
    return _ACRONYM.fullmatch(acronym) is not None and (
        _spelled_out(acronym).fullmatch(re.sub(r"^(?:the|The)\s+", "", name.strip())) is not None
    )


@lru_cache(maxsize=256)
def _spelled_out(acronym: str) -> re.Pattern[str]:
    """Capitalised words with the acronym's initials, small words between them allowed."""
    glue = r"\s+(?:(?:of|and|for|the|&)\s+)*"
    return re.compile(r"\b" + glue.join(f"{c}[a-z]+" for c in acronym) + r"\b")


def unmentioned_names(question: str, texts: Iterable[str]) -> list[str]:
    """The names a question asks about that none of the texts mention, when that decides the
    matter: a full name ('Emmanuel Macron'), or every name the question has. A single word the
    passages miss ('Britain' where they say 'UK') is left to the answerer's other checks."""
    corpus = " ".join(texts)
    asked = names(question)
    missing = [n for n in asked if not spoken_of(corpus, n)]
    if missing and len(missing) == len(asked):
        return missing
    return [n for n in missing if len(n.split()) >= 2]


_INJECTION = re.compile(
    "|".join(
        (
            # English
            r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(instructions?|prompts?|"
            r"rules?|directions?|guidelines?|system message)\b",
            r"\b(system prompt|you are now|new instructions?|act as|pretend (to be|you are)|"
            r"respond only with|reply only with|answer only with|from now on,? you|"
            r"(ai|a\.i\.|llm|language model|model|assistant|chatbot|ai model)s?\s+(reading|"
            r"summari[sz]ing|processing|answering)\b|"
            r"(tell|instruct) the (user|reader)s?|in your (answer|response|reply))\b",
            r"^\s*(system|assistant|developer)\s*:",
            # French, Spanish, Portuguese, Italian, German, Dutch
            r"\b(ignore[sz]?|oublie[sz]?)\b[^.!?\n]{0,40}\b(instructions?|consignes?|r[eè]gles?)\b",
            r"\b(tu es|vous [eê]tes) (maintenant|d[ée]sormais)\b|\br[ée]ponds? uniquement\b",
            r"\b(ignor[ae]|olvida|desobedece)\b[^.!?\n]{0,40}\b(instrucciones|reglas|indicaciones|"
            r"istruzioni|regole|instru[cç][oõ]es|regras)\b",
            r"\b(ahora eres|responde solo|responde [úu]nicamente|agora voc[eê] [ée]|"
            r"rispondi solo|ora sei)\b",
            r"\b(ignoriere|vergiss)\b[^.!?\n]{0,40}\b(anweisungen|regeln|vorgaben)\b",
            r"\b(du bist (jetzt|nun)|antworte nur)\b",
            r"\b(negeer|vergeet)\b[^.!?\n]{0,40}\b(instructies|regels)\b",
        )
    ),
    re.I | re.M,
)


@lru_cache(maxsize=1 << 16)
def term_set(text: str) -> frozenset[str]:
    """`terms` as a set, remembered: the same sentences come back for many questions."""
    return frozenset(terms(text))


# a run of base64 long enough to hide a sentence: no reader of news needs it, a model may decode it
_ENCODED = re.compile(r"(?<![\w/+=])[A-Za-z0-9+/]{40,}={0,2}(?![\w/+=])")
_MARKUP = re.compile(r"<!--.*?-->|<[^>]{1,200}>", re.S)  # comments and tags left in article text
_MD_LINK = re.compile(r"!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)")  # images; links: their text


def looks_like_instruction(sentence: str) -> bool:
    """Text in an article that addresses a language model rather than a reader (in English and
    the main western European languages), or hides something encoded."""
    return bool(_INJECTION.search(sentence) or _ENCODED.search(sentence))


@lru_cache(maxsize=1 << 16)  # the same sentences come back for many questions
def quotable(sentence: str) -> bool:
    """A sentence an extractive answer may quote and mine: long enough to say something, and
    addressed to a reader, not to a model."""
    return len(sentence) > 25 and not looks_like_instruction(sentence)


def redact_instructions(text: str) -> str:
    """The article text an LLM may read: markup comments and tags removed, markdown images
    removed and links reduced to their words, and every
    instruction-like sentence left out (no marker in its place, which a model would repeat)."""
    text = _MD_LINK.sub(lambda m: m.group(1) or "", _MARKUP.sub(" ", text))
    return " ".join(s for s in split_sentences(text) if not looks_like_instruction(s))


def repair(text: str) -> str:
    """The text as valid Unicode: a surrogate pair JSON sent as two escapes becomes its character,
    a lone surrogate (which no encoder accepts) U+FFFD, a NUL a space."""
    if not any("\ud800" <= c <= "\udfff" or c == "\x00" for c in text):
        return text
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return fixed.replace("\x00", " ")


def count_tokens(text: str) -> int:
    """Tokens as OpenAI's models count them (cl100k; local models' tokenizers come close)."""
    import tiktoken

    return len(tiktoken.get_encoding("cl100k_base").encode(text))
