/** The list of the caller's conversations (`GET /api/sessions`) and opening one. */

import { getJson } from "./api";
import { byId, el } from "./dom";
import type { SessionList, SessionResponse } from "./generated/events";
import { t } from "./i18n";

export async function refreshSessions(current: string | null, open: (id: string) => void): Promise<void> {
  const list = await getJson<SessionList>("/api/sessions");
  const items = list.sessions.map((s) => {
    const button = el(
      "button",
      { type: "button", class: "session-item", "data-session-id": s.session_id },
      el("span", { class: "session-title" }, s.title),
      el("span", { class: "session-meta muted" }, `${new Date(s.updated_at).toLocaleString()} · ${t("turns", { n: s.turns })}`),
    );
    if (s.session_id === current) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => open(s.session_id));
    return el("li", {}, button);
  });
  byId("sessions-list").replaceChildren(...items);
  byId("sessions-empty").hidden = items.length > 0;
}

export function loadSession(id: string): Promise<SessionResponse> {
  return getJson<SessionResponse>(`/api/sessions/${encodeURIComponent(id)}`);
}
