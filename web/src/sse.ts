/**
 * Server-Sent Events over `fetch`: the browser's EventSource cannot send `Authorization`
 * nor POST a body. Frames are parsed by eventsource-parser; this yields them in order
 * and ends when the response does (or throws when the connection breaks).
 */

import { createParser, type EventSourceMessage } from "eventsource-parser";

export async function* sseFrames(response: Response): AsyncGenerator<EventSourceMessage> {
  if (!response.body) return;
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => queue.push(message) });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(value);
      while (queue.length) yield queue.shift() as EventSourceMessage;
    }
  } finally {
    reader.releaseLock();
  }
}
