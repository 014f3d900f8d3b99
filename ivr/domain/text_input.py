"""What text a person may enter: the characters refused in every stored text field.

A summary, an address or a crew's name is kept verbatim (quotes, ``& | , ;`` and line breaks
are legitimate), but some characters no person types and every reader of the record suffers:
NUL (PostgreSQL cannot store it), terminal escapes and bells (a log viewer obeys them), C1
controls, and the bidirectional overrides that make ``0018 ‮nimda`` read as something else on a
screen. They are refused, never silently stripped, so what is stored is what was sent.

>>> refused_character("幸福路12号\\n3栋")
>>> refused_character("abc\\x1b[2J")
'U+001B (a control character)'
"""

from __future__ import annotations

import unicodedata

# Line breaks and tabs are what a person types into a multi-line note.
_ALLOWED_CONTROLS = frozenset("\t\n\r")
# Embedding, override and isolate marks (U+202A–U+202E, U+2066–U+2069) and the
# left-to-right/right-to-left marks are invisible and reorder what a reader sees.
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F))
# Line/paragraph separators and the BOM: invisible, and they break line-based logs and CSV.
_INVISIBLE = frozenset("\u2028\u2029\ufeff")
# The largest value a database integer column (PostgreSQL ``integer``) holds.
INT32_MAX = 2**31 - 1


def refused_character(text: str) -> str | None:
    """The first character a stored text may not contain, described, or ``None`` if all fine."""
    for ch in text:
        if ch in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":  # C0, DEL and C1 (U+0080–U+009F)
            return f"U+{ord(ch):04X} (a control character)"
        if ch in _BIDI:
            return f"U+{ord(ch):04X} (a bidirectional formatting mark)"
        if ch in _INVISIBLE or category == "Cs":
            return f"U+{ord(ch):04X} (an invisible separator or a lone surrogate)"
    return None
