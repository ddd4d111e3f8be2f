/**
 * What the page does with each run event, one entry per type the server can send.
 * The table's type is built from the generated `RunEventType`: a type added to
 * `agent_common/events.py` (and so to `generated/events.ts`) without an entry here
 * does not compile, and tests/web/test_event_types.py checks the same from Python.
 */

import type { AnswerView } from "./answer_view";
import type { RunEvent, RunEventType } from "./generated/events";

type Handler<K extends RunEventType> = (view: AnswerView, event: Extract<RunEvent, { type: K }>) => void;

export const EVENT_HANDLERS: { [K in RunEventType]: Handler<K> } = {
  token: (view, event) => view.appendText(event.text),
  tool_start: (view, event) => view.toolStarted(event),
  tool_end: (view, event) => view.toolEnded(event),
  citations: (view, event) => view.showCitations(event.citations),
  done: (view, event) => view.finished(event),
  error: (view, event) => view.failed(event),
};

export function handleEvent(view: AnswerView, event: RunEvent): void {
  const handler = EVENT_HANDLERS[event.type] as Handler<RunEventType> | undefined;
  // A type newer than this page (a server upgraded first) is skipped, not fatal.
  handler?.(view, event as never);
}
