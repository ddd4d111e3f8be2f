/** The documents panel: what is indexed, and a reindex with its progress bar (`reindex` scope). */

import { ApiError, call, getJson, postJson } from "./api";
import { byId, el } from "./dom";
import type { DocumentList, ReindexAccepted, ReindexStatus } from "./generated/events";
import { t } from "./i18n";
import { sseFrames } from "./sse";

function note(text: string | null): void {
  const p = byId("documents-note");
  p.textContent = text ?? "";
  p.hidden = !text;
}

export async function refreshDocuments(): Promise<void> {
  let list: DocumentList;
  try {
    list = await getJson<DocumentList>("/api/documents");
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      byId("documents-table").hidden = true;
      byId("reindex-form").hidden = true;
      note(t("documentsNeedScope"));
      return;
    }
    throw error;
  }
  byId("reindex-form").hidden = false;
  const rows = list.documents.map((d) =>
    el(
      "tr",
      {},
      el("td", {}, d.source),
      el("td", { title: d.doc_id }, d.title || d.doc_id),
      el("td", {}, d.version),
      el("td", {}, d.updated_at),
      el("td", { class: "number" }, String(d.chunks)),
    ),
  );
  byId("documents-rows").replaceChildren(...rows);
  byId("documents-table").hidden = rows.length === 0;
  note(!list.available ? t("documentsUnavailable") : rows.length === 0 ? t("noDocuments") : null);
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "") || "document";
}

function showProgress(status: ReindexStatus): void {
  const bar = byId<HTMLProgressElement>("reindex-progress");
  const { total, seen, chunks_written } = status.counts;
  bar.hidden = false;
  bar.max = Math.max(total, 1);
  bar.value = status.state === "done" ? bar.max : seen;
  const line =
    status.state === "failed"
      ? t("reindexFailed", { message: status.error?.message ?? "" })
      : t("reindexState", { state: status.state, seen, total, chunks: chunks_written });
  byId("reindex-status").textContent = line;
  byId("reindex-form").dataset.state = status.state;
}

/** Submit the form's reindex and follow its statuses to the end. */
export async function reindex(): Promise<void> {
  const text = byId<HTMLTextAreaElement>("reindex-text").value;
  const title = byId<HTMLInputElement>("reindex-title").value.trim();
  const paths = byId<HTMLTextAreaElement>("reindex-paths")
    .value.split("\n")
    .map((p) => p.trim())
    .filter(Boolean);
  const documents = text.trim() ? [{ doc_id: slug(title || text.slice(0, 40)), title: title || null, text, format: "markdown" }] : [];
  const source = { name: byId<HTMLInputElement>("reindex-source").value.trim() || "notes", paths, documents };
  byId("reindex-form").dataset.state = "sending";
  const accepted = await postJson<ReindexAccepted>("/api/reindex", { source, mode: "incremental" });
  const response = await call(`/api/reindex/${encodeURIComponent(accepted.request_id)}/events`, {
    headers: { Accept: "text/event-stream" },
  });
  for await (const frame of sseFrames(response)) {
    if (!frame.data) continue;
    const status = JSON.parse(frame.data) as ReindexStatus;
    showProgress(status);
    if (status.state === "done" || status.state === "failed") break;
  }
  await refreshDocuments();
}
