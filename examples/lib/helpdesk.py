"""A bike-share help centre: a few short passages, and retrieval over them.

The corpus a retrieval-augmented assistant answers from
(examples/retrieval_qa.agent). `retrieve` ranks the passages against a
question with BM25 over plain word stems, deterministic and stdlib only;
`retriever` is the python agent that hands them out a few at a time, the
next ones whenever the assistant replies UPDATE CONTEXT. It keeps no state:
what it has handed out already is read from the conversation.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

#: The help centre's passages, by title.
PASSAGES: dict[str, str] = {
    "Day passes": "A day pass costs $8 and covers any number of classic bike rides of up to 45 minutes each "
                  "within 24 hours. Longer rides cost $3 for every extra 15 minutes.",
    "Annual membership": "Members pay $120 a year. Classic bike rides of up to 60 minutes are included; "
                         "e-bike rides cost members $0.15 a minute.",
    "E-bikes": "E-bikes have a battery that assists pedalling up to 25 km/h. Non-members pay $1 to unlock an "
               "e-bike plus $0.30 a minute. The battery range is about 60 km; the app shows each e-bike's charge.",
    "Charging e-bikes": "E-bikes charge while docked at stations marked with a lightning sign. Riders never "
                        "need to charge an e-bike themselves, and are not charged for the electricity.",
    "Returning a bike": "To end a ride, push the bike firmly into a free dock until the light turns green. "
                        "If a station is full, the app lists nearby stations with free docks and adds 15 minutes.",
    "Unreturned bikes": "A bike parked anywhere but in a dock is not returned: its ride stays open. "
                                    "After 24 hours the bike is reported missing, the ride is billed up to a "
                                    "cap of $50 a day, and a $150 recovery fee is added for e-bikes ($100 for "
                                    "classic bikes).",
    "Stolen bikes": "If the bike you are riding is stolen, report it in the app and to the police within 24 "
                    "hours; with a police report number, no fees are charged.",
    "Night riding": "Bikes can be taken out at any hour. Between midnight and 5 am, e-bikes are limited to "
                    "15 km/h and every bike's lights stay on.",
    "Damage": "Report a damaged bike by pressing the wrench button on its dock within 2 minutes of returning "
              "it; that ride is then free. Riders are not charged for wear.",
    "Refunds": "Disputed charges are reviewed within 5 working days. Write from the app's Help page with the "
               "ride's date and station; refunds go back to the card that paid.",
}

#: Words too common to tell passages apart.
_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "how", "i", "if", "in", "is",
    "it", "its", "my", "of", "on", "or", "the", "to", "what", "when", "will", "with", "you", "your",
})


def _stems(text: str) -> list[str]:
    """Lowercase words without stop words, with a plural or -ed/-ing ending cut: a crude, repeatable stemmer."""
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP]
    return [re.sub(r"(?<=[a-z]{3})(ing|ed|es|s)$", "", w) for w in words]


def retrieve(query: str, k: int = 2, skip: int = 0) -> list[str]:
    """The titles of the `k` passages that best match `query` (BM25), after the first `skip` of them."""
    docs = {title: _stems(title + " " + text) for title, text in PASSAGES.items()}
    average = sum(len(d) for d in docs.values()) / len(docs)
    df = Counter(term for d in docs.values() for term in set(d))

    def score(words: list[str]) -> float:
        counts = Counter(words)
        total = 0.0
        for term in set(_stems(query)):
            if term in counts:
                idf = math.log(1 + (len(docs) - df[term] + 0.5) / (df[term] + 0.5))
                tf = counts[term]
                total += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(words) / average))
        return total

    ranked = sorted(docs, key=lambda title: (-score(docs[title]), title))
    return ranked[skip:skip + k]


#: How many passages the retriever hands out at a time.
PER_ROUND = 2


def retriever(text: str, thread: list[dict[str, Any]]) -> str:
    """Hand out the next passages for the question that opened the conversation (RetrieveChat's proxy)."""
    question = next(m["content"] for m in thread if m["sender"] == "script")
    handed = sum(1 for m in thread if m["role"] == "assistant")
    if handed and "UPDATE CONTEXT" not in text:
        return "Answer from the context you have, or reply UPDATE CONTEXT for more."
    titles = retrieve(question, PER_ROUND, skip=handed * PER_ROUND)
    if not titles:
        return "NO MORE CONTEXT: every passage has been handed out."
    context = "\n".join(f"[{title}] {PASSAGES[title]}" for title in titles)
    return f"Context:\n{context}\n\nQuestion: {question}"
