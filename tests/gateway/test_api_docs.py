"""`api_docs.py` and the schema: the documentation pages work offline, and the schema
says which credential the API takes and which routes need it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from agent_gateway.admission import BEARER


class References(HTMLParser):
    """Every URL a page loads: `src` and `href` attributes, Redoc's `spec-url`."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


def references(page: str) -> list[str]:
    parser = References()
    parser.feed(page)
    # Swagger UI names the schema in its script (`url: '/openapi.json'`).
    return parser.urls + re.findall(r"\burl: '([^']+)'", page)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_loads_every_asset_from_the_gateway_itself(anonymous_gateway: TestClient, page: str) -> None:
    response = anonymous_gateway.get(page)
    assert response.status_code == 200
    assert "://" not in response.text, "the page names another host"
    urls = references(response.text)
    assert "/openapi.json" in urls
    assert len(urls) >= 3  # the schema, a script and the favicon at least
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = anonymous_gateway.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


def test_the_schema_declares_the_bearer_credential_and_every_api_route_needs_it(
    anonymous_gateway: TestClient,
) -> None:
    schema = anonymous_gateway.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"][BEARER.scheme_name]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "JWT" in scheme["bearerFormat"] and "API key" in scheme["bearerFormat"]
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert any(path == "/api/chat" for path, _, _ in operations)
    for path, method, operation in operations:
        needed = path.startswith(("/api/", "/v1/"))  # the platform's API and its OpenAI-compatible one
        assert (operation.get("security") == [{BEARER.scheme_name: []}]) == needed, (method, path)


def test_the_gateways_own_address_is_the_chat_page_and_it_links_the_api_docs(anonymous_gateway: TestClient) -> None:
    response = anonymous_gateway.get("/", follow_redirects=False)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in response.text  # the page's way to the API's documentation
    assert anonymous_gateway.get("/docs").status_code == 200
