/**
 * One exchange on the page: the user's message and the agent's answer as it streams,
 * with its tool cards, its numbered sources, and how it ended (whole, cut off, failed).
 */

import { el, hostOf } from "./dom";
import type {
  Citation,
  DoneEvent,
  ErrorEvent,
  ErrorInfo,
  ToolEndEvent,
  ToolStartEvent,
} from "./generated/events";
import { t } from "./i18n";
import { renderMarkdown } from "./markdown";

let counter = 0;

export class AnswerView {
  readonly root: HTMLElement;
  private readonly tools = el("div", { class: "tool-cards" });
  private readonly body = el("div", { class: "answer-body markdown" });
  private readonly notes = el("div", { class: "answer-notes" });
  private readonly sources = el("section", { class: "sources", hidden: "" });
  private readonly meta = el("p", { class: "answer-meta muted" });
  private readonly anchorPrefix = `cite-${++counter}`;
  private readonly cards = new Map<string, HTMLElement>();
  private citations: Citation[] = [];
  private text = "";
  private renderPending = false;

  constructor(container: HTMLElement, userMessage: string) {
    const question = el(
      "article",
      { class: "message user" },
      el("h3", { class: "visually-hidden" }, t("you")),
      el("p", { class: "user-text" }, userMessage),
    );
    this.root = el(
      "article",
      { class: "message assistant", "data-state": "streaming", "aria-busy": "true" },
      el("h3", { class: "visually-hidden" }, t("agent")),
      this.tools,
      this.body,
      this.notes,
      this.sources,
      this.meta,
    );
    container.append(question, this.root);
  }

  /** An answer kept in the session (a conversation opened from the list): already whole. */
  static fromHistory(container: HTMLElement, user: string, assistant: string, cutOff: boolean): AnswerView {
    const view = new AnswerView(container, user);
    view.appendText(assistant);
    if (cutOff) view.note("answer-cut-off", t("cutOff"));
    view.settle("done");
    return view;
  }

  get requestId(): string | undefined {
    return this.root.dataset.requestId;
  }

  set requestId(id: string | undefined) {
    if (id) this.root.dataset.requestId = id;
  }

  appendText(text: string): void {
    this.text += text;
    this.scheduleRender();
  }

  toolStarted(event: ToolStartEvent): void {
    const url = typeof event.arguments.url === "string" ? event.arguments.url : "";
    const card = el(
      "div",
      { class: "tool-card", "data-call-id": event.call_id, "data-state": "running" },
      el("span", { class: "tool-name" }, event.tool),
      url ? el("span", { class: "tool-url", title: url }, `${hostOf(url)} · ${url}`) : null,
      el("span", { class: "tool-outcome" }, t("toolRunning")),
    );
    this.cards.set(event.call_id, card);
    this.tools.append(card);
  }

  toolEnded(event: ToolEndEvent): void {
    let card = this.cards.get(event.call_id);
    if (!card) {
      // Its start was before this page joined the run: a card for the end alone.
      this.toolStarted({ ...event, type: "tool_start", arguments: {} });
      card = this.cards.get(event.call_id) as HTMLElement;
    }
    card.dataset.state = event.ok ? "ok" : "failed";
    const outcome = card.querySelector(".tool-outcome") as HTMLElement;
    outcome.textContent = `${event.ok ? t("toolOk") : t("toolFailed")} · ${Math.round(event.duration_ms)} ms`;
    if (!event.ok && event.error) card.append(errorLine(event.error, "tool-error"));
  }

  showCitations(citations: Citation[]): void {
    this.citations = citations;
    this.sources.replaceChildren(
      el("h4", {}, t("sources")),
      el(
        "ol",
        {},
        ...citations.map((c) =>
          el(
            "li",
            { id: `${this.anchorPrefix}-${c.marker}`, value: String(c.marker), class: "citation" },
            el("span", { class: "citation-title" }, c.title),
            " ",
            el("span", { class: "citation-location muted" }, c.location),
            " ",
            el("span", { class: "citation-version muted" }, `(${t("version")} ${c.version})`),
            el("blockquote", { class: "citation-snippet" }, c.snippet),
          ),
        ),
      ),
    );
    this.sources.hidden = citations.length === 0;
    this.scheduleRender(); // the answer's [n] become links now
  }

  finished(event: DoneEvent): void {
    if (!this.text && event.answer) this.appendText(event.answer);
    if (event.citations.length && !this.citations.length) this.showCitations(event.citations);
    if (event.finish_reason === "length") this.note("answer-cut-off", event.note ?? t("cutOff"));
    const usage = event.usage.total_tokens ? ` · ${event.usage.total_tokens} tokens` : "";
    this.meta.textContent = event.model ? `${event.model}${usage}` : "";
    this.settle("done");
  }

  failed(event: ErrorEvent): void {
    if (event.partial) {
      this.body.classList.add("incomplete");
      this.note("answer-incomplete", t("incomplete"));
    }
    const box = el("div", { class: "answer-error", role: "alert" });
    if (event.fallback) box.append(el("p", { class: "fallback" }, event.fallback));
    box.append(errorLine(event.error, "error-detail"));
    this.notes.append(box);
    this.settle("error");
  }

  /** The page could not finish the stream (the connection could not be restored). */
  lost(message: string): void {
    if (this.text) {
      this.body.classList.add("incomplete");
      this.note("answer-incomplete", t("incomplete"));
    }
    this.notes.append(el("div", { class: "answer-error", role: "alert" }, el("p", { class: "fallback" }, message)));
    this.settle("error");
  }

  private note(kind: string, text: string): void {
    this.notes.append(el("p", { class: `answer-note ${kind}` }, text));
  }

  private settle(state: "done" | "error"): void {
    this.render();
    this.root.dataset.state = state;
    this.root.removeAttribute("aria-busy");
  }

  private scheduleRender(): void {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => this.render());
  }

  private render(): void {
    this.renderPending = false;
    const markers = new Set(this.citations.map((c) => c.marker));
    this.body.innerHTML = renderMarkdown(this.text, { anchorPrefix: this.anchorPrefix, markers });
    this.root.dataset.textLength = String(this.text.length);
  }

  /** The answer's text as received (for the page's own checks and tests). */
  get answerText(): string {
    return this.text;
  }
}

function errorLine(error: ErrorInfo, className: string): HTMLElement {
  return el(
    "p",
    { class: className },
    el("code", { class: "error-code", title: t("errorCode") }, error.code),
    " ",
    el("span", { class: "error-message" }, error.message),
  );
}
