/**
 * Calls to the gateway: the API key (kept in sessionStorage, so for this tab only),
 * the page's language, and refusals as `ApiError` with what the page must show.
 */

import type { ErrorResponse } from "./generated/events";
import { locale } from "./i18n";

const KEY_STORAGE = "agent-chat-api-key";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorResponse | null,
    /** Seconds from `Retry-After`, on a 429. */
    readonly retryAfterS: number | null,
  ) {
    super(body?.error.message ?? `HTTP ${status}`);
  }

  get code(): string | null {
    return this.body?.error.code ?? null;
  }
}

/** The network failed (no HTTP answer at all). */
export class NetworkError extends Error {}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

function headers(extra: Record<string, string>): Headers {
  const all = new Headers({ "Accept-Language": locale(), ...extra });
  const key = apiKey();
  if (key) all.set("Authorization", `Bearer ${key}`);
  return all;
}

async function refusal(response: Response): Promise<ApiError> {
  let body: ErrorResponse | null = null;
  try {
    body = (await response.json()) as ErrorResponse;
  } catch {
    body = null;
  }
  const retryAfter = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, body, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}

/** `fetch` with the key and language; any status but 2xx is thrown as `ApiError`. */
export async function call(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Response> {
  const extra = { ...(init.body === undefined ? {} : { "Content-Type": "application/json" }), ...init.headers };
  let response: Response;
  try {
    response = await fetch(path, {
      method: init.method ?? "GET",
      headers: headers(extra),
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    if (init.signal?.aborted) throw error;
    throw new NetworkError(String(error));
  }
  if (!response.ok) throw await refusal(response);
  return response;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await call(path)).json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return (await (await call(path, { method: "POST", body })).json()) as T;
}
