/** The page's text in English and Korean: chosen from the browser's language, switchable, remembered. */

const EN = {
  title: "Agent chat",
  skipToMessage: "Skip to the message box",
  conversations: "Conversations",
  noSessions: "No conversations yet.",
  newChat: "New chat",
  documents: "Documents",
  apiKey: "API key",
  apiDocs: "API docs",
  language: "Language",
  welcome: "Ask anything. Answers stream in as they are written; tools and sources show as they are used.",
  message: "Message",
  placeholder: "Message the agent (Enter to send, Shift+Enter for a new line)",
  send: "Send",
  you: "You",
  agent: "Agent",
  toolRunning: "running…",
  toolOk: "done",
  toolFailed: "failed",
  sources: "Sources",
  version: "version",
  incomplete: "The answer stopped early: the text above is incomplete.",
  cutOff: "The answer was cut off at the length limit.",
  reconnecting: "Connection lost: reconnecting…",
  reconnected: "Reconnected: the answer continues.",
  connectionFailed: "The connection was lost and could not be restored. Try again.",
  networkError: "The gateway cannot be reached. Check the connection and try again.",
  rateLimited: "Too many requests: you can send again in {s} s.",
  keyRequired: "This gateway needs an API key.",
  keyInvalid: "That API key was not accepted. Enter a valid key.",
  keyKept: "The key is kept only for this browser tab and is sent to this gateway only.",
  cancel: "Cancel",
  useKey: "Use this key",
  errorCode: "Error code",
  image: "image",
  opensNewTab: "opens in a new tab",
  docSource: "Source",
  docTitle: "Document",
  docVersion: "Version",
  docUpdated: "Updated",
  docChunks: "Chunks",
  documentsNeedScope: "Listing and reindexing documents needs a key with the reindex scope.",
  documentsUnavailable: "This gateway cannot list the index (it runs apart from the indexer).",
  noDocuments: "Nothing is indexed yet.",
  reindex: "Reindex",
  sourceName: "Source name",
  docTitleLabel: "Document title",
  docText: "Document text (Markdown)",
  paths: "Or paths on the server, one per line",
  reindexStart: "Index",
  reindexState: "{state}: {seen} of {total} documents, {chunks} chunks written",
  reindexFailed: "Reindex failed: {message}",
  sessionLoadFailed: "That conversation could not be opened.",
  turns: "{n} turns",
} as const;

export type TextKey = keyof typeof EN;

const KO: Record<TextKey, string> = {
  title: "에이전트 채팅",
  skipToMessage: "메시지 입력란으로 건너뛰기",
  conversations: "대화 목록",
  noSessions: "아직 대화가 없습니다.",
  newChat: "새 대화",
  documents: "문서",
  apiKey: "API 키",
  apiDocs: "API 문서",
  language: "언어",
  welcome: "무엇이든 물어보세요. 답변은 작성되는 대로 표시되고, 사용한 도구와 출처도 함께 보입니다.",
  message: "메시지",
  placeholder: "에이전트에게 메시지 보내기 (Enter로 전송, Shift+Enter로 줄바꿈)",
  send: "보내기",
  you: "나",
  agent: "에이전트",
  toolRunning: "실행 중…",
  toolOk: "완료",
  toolFailed: "실패",
  sources: "출처",
  version: "버전",
  incomplete: "답변이 중간에 멈췄습니다: 위 내용은 완전하지 않습니다.",
  cutOff: "답변이 길이 제한에서 잘렸습니다.",
  reconnecting: "연결이 끊겼습니다: 다시 연결하는 중…",
  reconnected: "다시 연결되었습니다: 답변이 이어집니다.",
  connectionFailed: "연결이 끊긴 뒤 복구하지 못했습니다. 다시 시도해 주세요.",
  networkError: "게이트웨이에 연결할 수 없습니다. 연결을 확인하고 다시 시도해 주세요.",
  rateLimited: "요청이 너무 많습니다: {s}초 후에 다시 보낼 수 있습니다.",
  keyRequired: "이 게이트웨이는 API 키가 필요합니다.",
  keyInvalid: "API 키가 승인되지 않았습니다. 올바른 키를 입력해 주세요.",
  keyKept: "키는 이 브라우저 탭에만 보관되며 이 게이트웨이에만 전송됩니다.",
  cancel: "취소",
  useKey: "이 키 사용",
  errorCode: "오류 코드",
  image: "이미지",
  opensNewTab: "새 탭에서 열림",
  docSource: "소스",
  docTitle: "문서",
  docVersion: "버전",
  docUpdated: "갱신",
  docChunks: "청크",
  documentsNeedScope: "문서 목록과 색인에는 reindex 권한이 있는 키가 필요합니다.",
  documentsUnavailable: "이 게이트웨이는 색인 목록을 볼 수 없습니다 (색인기와 따로 실행 중).",
  noDocuments: "아직 색인된 문서가 없습니다.",
  reindex: "다시 색인",
  sourceName: "소스 이름",
  docTitleLabel: "문서 제목",
  docText: "문서 내용 (Markdown)",
  paths: "또는 서버의 경로 (한 줄에 하나)",
  reindexStart: "색인",
  reindexState: "{state}: 문서 {total}개 중 {seen}개, 청크 {chunks}개 기록",
  reindexFailed: "색인 실패: {message}",
  sessionLoadFailed: "그 대화를 열 수 없습니다.",
  turns: "{n}턴",
};

export type Locale = "en" | "ko";
const TEXTS: Record<Locale, Record<TextKey, string>> = { en: EN, ko: KO };
const STORAGE_KEY = "agent-chat-locale";

let current: Locale = initialLocale();

function initialLocale(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "ko") return saved;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    const base = tag.toLowerCase().split("-")[0];
    if (base === "ko" || base === "en") return base;
  }
  return "en";
}

export function locale(): Locale {
  return current;
}

/** The text for `key` in the page's language, with `{name}` placeholders filled. */
export function t(key: TextKey, values: Record<string, string | number> = {}): string {
  return TEXTS[current][key].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? `{${name}}`));
}

/** Switch language and rewrite every element marked with `data-i18n*`. */
export function setLocale(next: Locale): void {
  current = next;
  localStorage.setItem(STORAGE_KEY, next);
  applyTexts();
}

export function applyTexts(root: ParentNode = document): void {
  document.documentElement.lang = current;
  document.title = t("title");
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n as TextKey);
  }
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder as TextKey));
  }
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel as TextKey));
  }
}
