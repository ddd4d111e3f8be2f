#!/usr/bin/env bash
# System packages the test tiers need: redis-server (Redis tier), Java 17+ and
# Maven (Kafka tier), python3.11-doc (the RAG evaluation's labelled FAQ corpus),
# prometheus (promtool) and prometheus-alertmanager (alertmanager, amtool) for the
# alert-rule and exposition checks, curl for the README's quickstart (tests/docs),
# Node.js 20+ and npm for the OpenAI JavaScript SDK's tests (the SDK itself: `npm ci`
# in tests/js, from its package-lock.json) and the chat page's build check (tests/web),
# Debian's chromium for the chat page's browser tier (tests/web). Installs what is missing when it can (root
# with apt-get); otherwise reports it, and the tier says it was skipped. With CI=true a
# missing package is an error: CI never skips a tier.
set -uo pipefail

missing_packages=()
command -v redis-server >/dev/null || missing_packages+=(redis-server)
command -v java >/dev/null || missing_packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing_packages+=(maven)
command -v curl >/dev/null || missing_packages+=(curl)
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing_packages+=(prometheus)
command -v amtool >/dev/null || missing_packages+=(prometheus-alertmanager)
command -v node >/dev/null || missing_packages+=(nodejs)     # the OpenAI JS SDK tests (tests/js), the chat page's build
command -v npm >/dev/null || missing_packages+=(npm)
command -v chromium >/dev/null || missing_packages+=(chromium) # the chat page's browser tier (tests/web)
# Korean glyphs for the browser tier's screenshots (the tests read text, the screenshots are for people).
CJK_FONT=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
[[ -f $CJK_FONT ]] || missing_packages+=(fonts-noto-cjk)
FAQ_DIR=/usr/share/doc/python3.11/html/faq
[[ -f $FAQ_DIR/general.html ]] || missing_packages+=(python3.11-doc)

if ((${#missing_packages[@]})) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "ensure-system-deps: installing ${missing_packages[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_packages[@]}" >/dev/null
fi

status=0
report() { # name, command, what needs it
  if command -v "$2" >/dev/null; then
    echo "ensure-system-deps: $1: $(command -v "$2")"
  else
    echo "ensure-system-deps: $1: MISSING ($3)"
    [[ "${CI:-}" == "true" ]] && status=1
  fi
}
report redis-server redis-server "the Redis tier"
report java java "the Kafka tier"
report maven mvn "the Kafka tier"
report curl curl "the README's distributed quickstart (tests/docs)"
report promtool promtool "the alert rule and metrics checks"
report prometheus prometheus "the runbook's and the game day's real Prometheus (tests/runbook, make gameday)"
report alertmanager prometheus-alertmanager "the alert routing checks"
report amtool amtool "the alert routing checks"
report node node "the OpenAI JavaScript SDK tests (tests/js)"
report npm npm "the OpenAI JavaScript SDK tests (tests/js) and the chat page's build check (tests/web)"
if command -v node >/dev/null && (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
  echo "ensure-system-deps: node $(node --version) is too old for the OpenAI JavaScript SDK (20+ needed)"
  [[ "${CI:-}" == "true" ]] && status=1
fi
JS_DIR="$(cd "$(dirname "$0")/../tests/js" && pwd)"
if command -v npm >/dev/null; then
  # Again only when the lock file changed: npm writes node_modules/.package-lock.json on each install.
  if [[ ! $JS_DIR/node_modules/.package-lock.json -nt $JS_DIR/package-lock.json ]]; then
    npm ci --prefix "$JS_DIR" --no-audit --no-fund --loglevel=error >/dev/null
  fi
  if [[ -f $JS_DIR/node_modules/openai/package.json ]]; then
    echo "ensure-system-deps: openai (npm): $(node -p "require('$JS_DIR/node_modules/openai/package.json').version")"
  else
    echo "ensure-system-deps: openai (npm): MISSING (npm ci --prefix tests/js failed)"
    [[ "${CI:-}" == "true" ]] && status=1
  fi
fi
report chromium chromium "the chat page's browser tier (tests/web)"
if [[ -f $CJK_FONT ]]; then
  echo "ensure-system-deps: fonts-noto-cjk: $CJK_FONT"
else
  echo "ensure-system-deps: fonts-noto-cjk: missing (Korean text in the browser tier's screenshots shows as boxes)"
fi
if [[ -f $FAQ_DIR/general.html ]]; then
  echo "ensure-system-deps: python3.11-doc: $FAQ_DIR"
else
  echo "ensure-system-deps: python3.11-doc: MISSING (the RAG evaluation)"
  [[ "${CI:-}" == "true" ]] && status=1
fi
if command -v java >/dev/null; then
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [[ -n "$major" && "$major" -lt 17 ]]; then
    echo "ensure-system-deps: java $major is too old for Kafka 4 (17+ needed)"
    [[ "${CI:-}" == "true" ]] && status=1
  fi
fi
exit $status
