/** The chat page: composes the conversation, the key dialog, the side panels and the language. */

import { ApiError, NetworkError, setApiKey } from "./api";
import { AnswerView } from "./answer_view";
import { byId } from "./dom";
import { refreshDocuments, reindex } from "./documents";
import { handleEvent } from "./handlers";
import { applyTexts, locale, setLocale, t, type Locale } from "./i18n";
import { ConnectionLost, runStream, type StreamItem } from "./run_stream";
import { loadSession, refreshSessions } from "./sessions";

let sessionId: string | null = null;
let sending = false;
let retryTimer: number | undefined;

const conversation = () => byId("conversation");
const input = () => byId<HTMLTextAreaElement>("composer-input");

function showStatus(text: string | null, kind: "info" | "warning" | "error" = "info"): void {
  const status = byId("status");
  status.textContent = text ?? "";
  status.dataset.kind = kind;
  status.hidden = !text;
}

/** Ask for a key; true when one was entered (kept for this tab only). */
function askForKey(reason: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>("key-dialog");
  const field = byId<HTMLInputElement>("key-input");
  byId("key-reason").textContent = reason;
  field.value = "";
  dialog.returnValue = "";
  dialog.showModal();
  field.focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const key = field.value.trim();
        const entered = dialog.returnValue === "save" && key !== "";
        if (entered) setApiKey(key);
        resolve(entered);
      },
      { once: true },
    );
  });
}

/** Run `action`; on 401, ask for a key and run it again, until it passes or the user cancels. */
async function withKey<T>(action: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      setApiKey(null);
      if (!(await askForKey(error.code === "AUTH_INVALID" ? t("keyInvalid") : t("keyRequired")))) throw error;
    }
  }
}

function waitBeforeSending(seconds: number): void {
  const until = Date.now() + seconds * 1000;
  const send = byId<HTMLButtonElement>("send");
  window.clearInterval(retryTimer);
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      window.clearInterval(retryTimer);
      send.disabled = false;
      showStatus(null);
      return;
    }
    send.disabled = true;
    showStatus(t("rateLimited", { s: left }), "warning");
  };
  tick();
  retryTimer = window.setInterval(tick, 1000);
}

function explain(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      waitBeforeSending(error.retryAfterS ?? 1);
      return t("rateLimited", { s: error.retryAfterS ?? 1 });
    }
    return error.body?.fallback ?? error.message;
  }
  if (error instanceof ConnectionLost) return t("connectionFailed");
  if (error instanceof NetworkError) return t("networkError");
  return String(error);
}

function follow(view: AnswerView, item: StreamItem): void {
  switch (item.kind) {
    case "started":
      view.requestId = item.requestId;
      if (item.sessionId) sessionId = item.sessionId;
      break;
    case "reconnecting":
      view.root.dataset.connection = "reconnecting";
      showStatus(t("reconnecting"), "warning");
      break;
    case "reconnected":
      view.root.dataset.connection = "reconnected";
      showStatus(t("reconnected"));
      break;
    case "event":
      handleEvent(view, item.event);
      if (item.event.type === "done") sessionId = item.event.session_id;
      break;
  }
  view.root.scrollIntoView({ block: "end" });
}

async function send(message: string): Promise<void> {
  if (sending || !message.trim()) return;
  sending = true;
  byId<HTMLButtonElement>("send").disabled = true;
  byId("welcome").hidden = true;
  const view = new AnswerView(conversation(), message);
  view.root.scrollIntoView({ block: "end" });
  try {
    const body = { message, locale: locale(), ...(sessionId ? { session_id: sessionId } : {}) };
    const { stream, first } = await withKey(async () => {
      const stream = runStream(body);
      return { stream, first: await stream.next() };
    });
    for (let item = first; !item.done; item = await stream.next()) follow(view, item.value);
    if (view.root.dataset.connection === "reconnected") showStatus(null);
  } catch (error) {
    view.lost(explain(error));
  } finally {
    sending = false;
    if (!retryTimer || byId("status").dataset.kind !== "warning") byId<HTMLButtonElement>("send").disabled = false;
    void updateSessions();
  }
}

async function updateSessions(): Promise<void> {
  try {
    await withKey(() => refreshSessions(sessionId, openSession));
  } catch {
    // The list is a convenience: the conversation goes on without it.
  }
}

async function openSession(id: string): Promise<void> {
  try {
    const session = await withKey(() => loadSession(id));
    startNewChat();
    sessionId = session.session_id;
    byId("welcome").hidden = true;
    for (const turn of session.turns) {
      AnswerView.fromHistory(conversation(), turn.user, turn.assistant, turn.finish_reason === "length");
    }
    void updateSessions();
  } catch {
    showStatus(t("sessionLoadFailed"), "error");
  }
}

function startNewChat(): void {
  sessionId = null;
  const welcome = byId("welcome");
  conversation().replaceChildren(welcome);
  welcome.hidden = false;
  showStatus(null);
  for (const item of document.querySelectorAll("#sessions-list [aria-current]")) item.removeAttribute("aria-current");
}

function togglePanel(buttonId: string, panelId: string, onOpen?: () => void): void {
  const button = byId(buttonId);
  const panel = byId(panelId);
  const open = panel.hidden;
  panel.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (open) onOpen?.();
}

function wire(): void {
  const language = byId<HTMLSelectElement>("language");
  language.value = locale();
  language.addEventListener("change", () => setLocale(language.value as Locale));
  applyTexts();

  byId("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input().value;
    input().value = "";
    void send(message);
  });
  input().addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that ends a Korean (IME) composition is not a send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      byId<HTMLFormElement>("composer").requestSubmit();
    }
  });
  byId("new-chat").addEventListener("click", () => {
    startNewChat();
    input().focus();
  });
  byId("toggle-sessions").addEventListener("click", () =>
    togglePanel("toggle-sessions", "sessions-panel", () => void updateSessions()),
  );
  byId("toggle-documents").addEventListener("click", () =>
    togglePanel("toggle-documents", "documents-panel", () => void withKey(refreshDocuments).catch(() => undefined)),
  );
  byId("reindex-form").addEventListener("submit", (event) => {
    event.preventDefault();
    withKey(reindex).catch((error: unknown) => {
      byId("reindex-status").textContent = explain(error);
      byId("reindex-form").dataset.state = "refused";
    });
  });
  byId("open-key").addEventListener("click", () => void askForKey(t("keyRequired")));
  byId("key-cancel").addEventListener("click", () => byId<HTMLDialogElement>("key-dialog").close("cancel"));
  byId("key-save").setAttribute("value", "save");

  if (window.matchMedia("(min-width: 900px)").matches) togglePanel("toggle-sessions", "sessions-panel");
  void updateSessions();
  input().focus();
}

document.addEventListener("DOMContentLoaded", wire);
