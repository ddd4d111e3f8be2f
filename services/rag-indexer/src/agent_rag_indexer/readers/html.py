"""HTML: `h1`-`h6` open sections; paragraphs, list items, definitions, table cells and
preformatted text are blocks. Scripts, styles, navigation and Sphinx's page chrome
(sidebars, related links, footers, the `¶` anchors) are left out. The standard
library's parser, so nothing is fetched and malformed markup degrades gracefully."""

from __future__ import annotations

from html.parser import HTMLParser

from agent_rag_indexer.documents import Block, Parsed
from agent_rag_indexer.readers.decoding import decode

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = frozenset({"p", "li", "dd", "dt", "pre", "td", "th", "blockquote", "div", "section", "article", "tr", "br"})
_SKIPPED_TAGS = frozenset({"script", "style", "nav", "header", "footer", "noscript", "template", "svg", "head"})
_SKIPPED_CLASSES = frozenset({"sphinxsidebar", "related", "footer", "headerlink", "navigation", "toctree-wrapper"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title: str | None = None
        self._path: list[tuple[int, str]] = []
        self._buffer: list[str] = []
        self._heading: int | None = None
        self._skip_depth = 0
        self._in_title = False
        self._pre = 0
        self._title_parts: list[str] = []

    def _flush(self) -> None:
        raw = "".join(self._buffer)
        self._buffer.clear()
        text = raw.strip() if self._pre else " ".join(raw.split())
        text = text.replace("¶", "").strip()
        if not text:
            return
        if self._heading is not None:
            level = self._heading
            self._path = [(lvl, h) for lvl, h in self._path if lvl < level]
            self._path.append((level, text))
            self.blocks.append(Block("heading", text, tuple(h for _, h in self._path), level))
        else:
            self.blocks.append(Block("paragraph", text, tuple(h for _, h in self._path)))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_depth:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        classes = set((dict(attrs).get("class") or "").split())
        if tag in _SKIPPED_TAGS or classes & _SKIPPED_CLASSES:
            if tag not in _VOID:
                self._skip_depth = 1
            return
        if tag == "title":
            self._in_title = True
        elif tag in _HEADINGS:
            self._flush()
            self._heading = _HEADINGS[tag]
        elif tag in _BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if self._skip_depth:
            if tag not in _VOID:
                self._skip_depth -= 1
            return
        if tag == "title":
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split()) or None
        elif tag in _HEADINGS:
            self._flush()
            self._heading = None
        elif tag in _BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre = max(self._pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self._title_parts.append(data)
        else:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def read_html(content: bytes) -> Parsed:
    parser = _Extractor()
    parser.feed(decode(content))
    parser.close()
    first_h1 = next((b.text for b in parser.blocks if b.kind == "heading" and b.level == 1), None)
    return Parsed(title=first_h1 or parser.title, blocks=parser.blocks)
