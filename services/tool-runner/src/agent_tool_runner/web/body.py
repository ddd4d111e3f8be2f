"""Reading a response body without trusting it: the type is checked before a byte
is read, the size is bounded while streaming (after decompression, with a
decompressor that never inflates past the limit), and the text is decoded with
the charset the page declares, in its header or its `<meta>` tag."""

from __future__ import annotations

import codecs
import re
import zlib

import httpx

from agent_common.errors import ErrorCode, PlatformError

READABLE_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")
READABLE_SUFFIXES = ("+json", "+xml")
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def media_type(response: httpx.Response) -> str:
    header: str = response.headers.get("content-type", "")
    return header.split(";")[0].strip().lower()


def check_readable(response: httpx.Response) -> str:
    """The response's media type, if it is text a model can read; refused otherwise."""
    mime = media_type(response)
    if not (mime.startswith(READABLE_TYPES) or mime.endswith(READABLE_SUFFIXES)):
        raise PlatformError(
            ErrorCode.TOOL_CONTENT_TYPE_UNSUPPORTED,
            f"The page is not text (content type {mime or 'missing'}); only text, HTML, JSON and XML are read.",
            content_type=mime,
        )
    return mime


def _too_large(limit: int) -> PlatformError:
    return PlatformError(ErrorCode.TOOL_RESPONSE_TOO_LARGE, f"The page is larger than {limit} bytes.", limit=limit)


async def read_limited(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of the decoded body; more is refused, and reading stops there."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity", *_WBITS):
        raise PlatformError(
            ErrorCode.TOOL_CONTENT_TYPE_UNSUPPORTED,
            f"The page is compressed with {encoding}, which is not read.",
            content_encoding=encoding,
        )
    inflater = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            if inflater is None:
                body += chunk
            else:
                data = chunk
                while data and len(body) <= limit:  # never inflate more than one byte past the limit
                    body += inflater.decompress(data, limit + 1 - len(body))
                    data = inflater.unconsumed_tail
            if len(body) > limit:
                raise _too_large(limit)
    except zlib.error as exc:
        raise PlatformError(
            ErrorCode.TOOL_UPSTREAM_HTTP_ERROR, "The page's compressed body is corrupt.", reason="bad_encoding"
        ) from exc
    return bytes(body)


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(body: bytes, response: httpx.Response, mime: str) -> str:
    """The body as text: the header's charset, else an HTML page's `<meta>` charset, else UTF-8.
    Undecodable bytes become U+FFFD rather than failing the call."""
    charset = _known_codec(response.charset_encoding)
    if charset is None and "html" in mime and (match := _META_CHARSET.search(body[:4096])):
        charset = _known_codec(match.group(1).decode("ascii", errors="replace"))
    return body.decode(charset or "utf-8", errors="replace")
