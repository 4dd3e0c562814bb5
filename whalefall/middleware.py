"""Admin pages show server-supplied names without letting them reorder or hide the page.

Django's autoescaping stops HTML, not Unicode: a role named with U+202E (right-to-left override)
displays reversed (`\u202enimda` reads "admin") and can drag the text around it along. This
middleware writes such characters, and the other control characters, visibly (`\\u202e`) in the
text of every HTML page. Tags and attribute values are left alone, so form fields still submit
the exact value, and so is the content of `<textarea>`, `<script>` and `<style>` elements.
JSON responses are not touched: they keep exact names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from whalefall.textsafe import html_has_unsafe, safe_html_text

# A tag (comments included) or a raw-text element kept whole; what lies between is page text.
_TAG_OR_RAW = re.compile(
    r"(<(textarea|script|style)\b[^>]*>.*?</\2\s*>|<!--.*?-->|<[^>]*>)", re.IGNORECASE | re.DOTALL
)
PAGE_TYPES = ("text/html", "image/svg+xml")


def escape_page_text(html: str) -> str:
    """Escape unsafe characters in the text between tags of an HTML document."""
    out: list[str] = []
    position = 0
    for match in _TAG_OR_RAW.finditer(html):
        out.append(safe_html_text(html[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(safe_html_text(html[position:]))
    return "".join(out)


class VisibleControlCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in PAGE_TYPES or response.streaming or response.has_header("Content-Encoding"):
            return response
        charset = response.charset or "utf-8"
        text = response.content.decode(charset, errors="replace")
        if html_has_unsafe(text):
            response.content = escape_page_text(text).encode(charset)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
