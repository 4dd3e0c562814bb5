"""Text that cannot be used against the operator who reads it.

Names and error texts come from monitored servers, whose users are not trusted: a user named
`ESC]0;...BEL` retitles the operator's terminal, `ESC[2J` clears it, a newline forges a line of
an export, and a right-to-left override (U+202E) shows `\u202enimda` as "admin". Wherever such
text is shown to a person (command output, text exports, log lines on a console, admin pages)
these characters are written visibly instead: `\\x1b`, `\\n`, `\\u202e`. JSON keeps the exact
text (its encoder escapes what needs escaping).
"""

from __future__ import annotations

import re

# Bidirectional embeddings/overrides, isolates and marks, and the Unicode line/paragraph
# separators some terminals and editors treat as line breaks.
BIDI_AND_SEPARATORS = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029"
# C0 controls, DEL and C1 controls: no exception, newline and tab included.
CONTROLS = "\x00-\x1f\x7f-\x9f"

_UNSAFE = re.compile(f"[{CONTROLS}{BIDI_AND_SEPARATORS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{BIDI_AND_SEPARATORS}]")
_UNSAFE_IN_HTML = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{BIDI_AND_SEPARATORS}]")


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(char: str) -> str:
    """`\\n`, `\\r`, `\\t`; `\\x1b` for another byte-sized code point, `\\u202e` above."""
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _replace(match: re.Match[str]) -> str:
    return visible(match.group(0))


def safe_text(value: object) -> str:
    """One value (a name, a server's error text) for a single line: nothing unsafe left raw."""
    return _UNSAFE.sub(_replace, str(value))


def safe_lines(text: object) -> str:
    """Several lines we built ourselves: line breaks kept, every other unsafe character escaped."""
    return _UNSAFE_BUT_NEWLINE.sub(_replace, str(text))


def has_unsafe(text: str) -> bool:
    return _UNSAFE.search(text) is not None


def safe_html_text(text: str) -> str:
    """The text between tags of an HTML page: HTML whitespace kept, the rest escaped visibly."""
    return _UNSAFE_IN_HTML.sub(_replace, text)


def html_has_unsafe(text: str) -> bool:
    return _UNSAFE_IN_HTML.search(text) is not None


_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{BIDI_AND_SEPARATORS}]")


def safe_json(text: str) -> str:
    """JSON from `json.dumps(..., ensure_ascii=False)` with what it leaves raw (DEL, C1, bidi)
    written as `\\uXXXX`: still valid JSON decoding to the exact names, harmless on a terminal."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
