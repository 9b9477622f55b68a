"""Status words of a version (docs/spec/NEIGHBOURS.md section 5).

No source lists them all: `normal` is healthy; a word containing `fail`, or
`abnormal`, has failed; anything else is still moving. Unknown words are never
guessed green.
"""

from __future__ import annotations

HEALTHY, FAILED, MOVING = "healthy", "failed", "moving"


def classify(status: str) -> str:
    word = status.strip().lower()
    if word == "normal":
        return HEALTHY
    if "fail" in word or word == "abnormal":
        return FAILED
    return MOVING
