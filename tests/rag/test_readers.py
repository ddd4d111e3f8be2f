"""Each format's reader yields headings and paragraphs with their heading paths and pages."""

from __future__ import annotations

import pytest

from agent_common.errors import ErrorCode, PlatformError
from agent_rag_indexer.documents import checksum_of, detect_language, normalise
from agent_rag_indexer.readers import read
from tests.rag.pdf import pdf_with_pages

MARKDOWN = b"""# Handbook

Intro paragraph.

## Vacation

Twenty-five days.
Carried over until March.

```python
# not a heading
print("x")
```

### Sick leave

Tell your manager.
"""


def test_markdown_headings_open_sections_and_paragraphs_keep_their_path() -> None:
    parsed = read(MARKDOWN, "markdown")
    assert parsed.title == "Handbook"
    kinds = [(b.kind, b.text.splitlines()[0]) for b in parsed.blocks]
    assert kinds == [
        ("heading", "Handbook"),
        ("paragraph", "Intro paragraph."),
        ("heading", "Vacation"),
        ("paragraph", "Twenty-five days."),
        ("paragraph", "```python"),
        ("heading", "Sick leave"),
        ("paragraph", "Tell your manager."),
    ]
    assert parsed.blocks[3].heading_path == ("Handbook", "Vacation")
    assert parsed.blocks[6].heading_path == ("Handbook", "Vacation", "Sick leave")
    assert "# not a heading" in parsed.blocks[4].text


HTML = """<html><head><title>Page title</title><style>p {color: red}</style></head><body>
<div class="related"><a href="/">Navigation</a></div>
<nav><p>Contents</p></nav>
<div role="main"><h1>FAQ<a class="headerlink" href="#faq">¶</a></h1>
<h2>Is it &amp; fast?</h2><p>Yes, <em>very</em>
fast.</p><ul><li>one</li><li>two</li></ul>
<pre>x = 1
y = 2</pre>
<script>var hidden = 1;</script>
</div><div class="footer">© footer</div></body></html>"""


def test_html_keeps_content_and_drops_page_chrome() -> None:
    parsed = read(HTML.encode(), "html")
    texts = [b.text for b in parsed.blocks]
    assert texts == ["FAQ", "Is it & fast?", "Yes, very fast.", "one", "two", "x = 1\ny = 2"]
    assert parsed.title == "FAQ"
    assert parsed.blocks[2].heading_path == ("FAQ", "Is it & fast?")


def test_plain_text_paragraphs_are_separated_by_blank_lines() -> None:
    parsed = read("첫 문단입니다.\n둘째 줄.\n\n  \nSecond paragraph.".encode(), "text")
    assert [b.text for b in parsed.blocks] == ["첫 문단입니다.\n둘째 줄.", "Second paragraph."]


def test_pdf_text_keeps_its_page_numbers() -> None:
    parsed = read(pdf_with_pages(["Invoices are due in 30 days.", "Refunds take a week."]), "pdf")
    assert [(b.page, b.text) for b in parsed.blocks] == [
        (1, "Invoices are due in 30 days."),
        (2, "Refunds take a week."),
    ]


def test_a_corrupt_pdf_and_bad_text_are_classified() -> None:
    with pytest.raises(PlatformError) as pdf_error:
        read(b"%PDF-1.4 this is not a pdf", "pdf")
    assert pdf_error.value.code is ErrorCode.RAG_DOCUMENT_INVALID
    with pytest.raises(PlatformError) as text_error:
        read(b"\xff\xfe\xfa not utf-8", "markdown")
    assert text_error.value.code is ErrorCode.RAG_DOCUMENT_INVALID
    with pytest.raises(PlatformError) as format_error:
        read(b"x", "docx")
    assert format_error.value.code is ErrorCode.RAG_FORMAT_UNSUPPORTED


def test_a_normalised_document_has_its_metadata_and_block_offsets() -> None:
    doc = normalise(
        source="notes",
        doc_id="handbook.md",
        parsed=read(MARKDOWN, "markdown"),
        checksum=checksum_of(MARKDOWN),
        fallback_title="handbook",
        version=None,
        last_updated="2026-12-01T00:00:00+00:00",
        language=None,
    )
    assert (doc.title, doc.language, doc.version) == ("Handbook", "en", doc.checksum.removeprefix("sha256:")[:12])
    for placed in doc.blocks:
        assert doc.text[placed.start : placed.end] == placed.block.text


def test_language_is_korean_when_hangul_dominates() -> None:
    assert detect_language("모든 노트북은 디스크 암호화를 켜야 합니다. (BitLocker)") == "ko"
    assert detect_language("Every laptop uses disk encryption (디스크 암호화).") == "en"
