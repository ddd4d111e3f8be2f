/**
 * One run's events, pulled by the page: `POST /api/chat/stream`, then, if the connection
 * breaks before the run's last event, `GET /api/chat/stream/{request_id}` with
 * `Last-Event-ID` until it is over. Events are numbered (`seq`): one already seen is
 * never yielded twice, so the answer neither loses nor repeats text across a reconnect.
 */

import { ApiError, call, NetworkError } from "./api";
import type { RunEvent } from "./generated/events";
import { sseFrames } from "./sse";

export interface ChatBody {
  message: string;
  session_id?: string;
  locale?: string;
}

/** What the stream reports besides the run's own events. */
export type StreamNotice =
  | { kind: "started"; requestId: string; sessionId: string | null }
  | { kind: "reconnecting"; attempt: number }
  | { kind: "reconnected" };

export type StreamItem = { kind: "event"; event: RunEvent } | StreamNotice;

const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 3000, 5000, 5000, 5000, 5000, 5000];

export class ConnectionLost extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function* runStream(body: ChatBody): AsyncGenerator<StreamItem> {
  // Refusals (401, 429, 4xx) are thrown to the caller before any event: nothing to resume.
  const first = await call("/api/chat/stream", { method: "POST", body, headers: { Accept: "text/event-stream" } });
  const requestId = first.headers.get("X-Request-ID") ?? "";
  yield { kind: "started", requestId, sessionId: first.headers.get("X-Session-ID") };
  let lastSeq = 0;
  let response: Response | null = first;
  for (let attempt = 0; ; attempt++) {
    if (response) {
      try {
        for await (const frame of sseFrames(response)) {
          if (!frame.data) continue;
          const event = JSON.parse(frame.data) as RunEvent;
          if (event.seq <= lastSeq) continue; // replayed after a reconnect: already shown
          lastSeq = event.seq;
          attempt = 0;
          yield { kind: "event", event };
          if (event.type === "done" || event.type === "error") return;
        }
      } catch {
        // The connection broke mid-stream: reconnect below.
      }
    }
    if (!requestId || attempt >= RECONNECT_DELAYS_MS.length) throw new ConnectionLost();
    yield { kind: "reconnecting", attempt: attempt + 1 };
    await sleep(RECONNECT_DELAYS_MS[attempt]);
    try {
      response = await call(`/api/chat/stream/${encodeURIComponent(requestId)}`, {
        headers: { Accept: "text/event-stream", "Last-Event-ID": String(lastSeq) },
      });
      yield { kind: "reconnected" };
    } catch (error) {
      if (error instanceof ApiError && error.status !== 429 && error.status < 500) throw error;
      if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
      response = null;
    }
  }
}
