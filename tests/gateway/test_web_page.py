"""`agent_gateway/web_page`: the chat page at `/`, its files under `/web`, and the policy they are served under."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from agent_gateway.web_page import STATIC_DIR


def directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


def test_the_page_is_served_under_a_policy_that_loads_only_from_its_own_origin(anonymous_gateway: TestClient) -> None:
    page = anonymous_gateway.get("/")
    assert page.status_code == 200
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no other origin
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_page_has_no_inline_script_or_style_and_names_only_its_own_files(anonymous_gateway: TestClient) -> None:
    html = anonymous_gateway.get("/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html and " style=" not in html and " on" + "click=" not in html
    urls = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert urls and all(u.startswith("/") or u == "data:," for u in urls), urls
    for url in (u for u in urls if u.startswith("/web/")):
        asset = anonymous_gateway.get(url)
        assert asset.status_code == 200 and asset.content, url
        assert "script-src 'self'" in asset.headers["content-security-policy"]


def test_the_built_page_ships_inside_the_gateway_package() -> None:
    assert {p.name for p in STATIC_DIR.iterdir()} >= {"index.html", "app.js", "app.css"}
    # A bundle that fetched from a CDN would not work offline; none is named in it.
    bundle = (STATIC_DIR / "app.js").read_text()
    assert not re.search(r"https?://(?:cdn|unpkg|fonts\.googleapis|cdnjs)", bundle)
