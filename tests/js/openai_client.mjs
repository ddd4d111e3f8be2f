// The OpenAI-compatible API as an application on the official JavaScript SDK uses it: configured
// only by OPENAI_BASE_URL and OPENAI_API_KEY, which the SDK reads itself. Prints what it saw as one
// JSON object; tests/e2e/test_openai_js.py asserts on it.
import OpenAI from "openai";

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });
const hello = [{ role: "user", content: "Hello there" }];

async function refusal(call) {
  try {
    await call();
    return { raised: false };
  } catch (error) {
    return {
      raised: true,
      name: error.constructor.name,
      isAPIError: error instanceof OpenAI.APIError,
      isAuthenticationError: error instanceof OpenAI.AuthenticationError,
      isBadRequestError: error instanceof OpenAI.BadRequestError,
      status: error.status ?? null,
      code: error.code ?? null,
      type: error.type ?? null,
      param: error.param ?? null,
    };
  }
}

const models = [];
for await (const model of client.models.list()) models.push(model.id);

const completion = await client.chat.completions.create({ model: "gpt-4o", messages: hello });
const whole = {
  content: completion.choices[0].message.content,
  finish_reason: completion.choices[0].finish_reason,
  model: completion.model,
  usage: completion.usage,
  platform: completion.platform,
};

const chunks = [];
const stream = await client.chat.completions.create({
  model: "agent",
  messages: hello,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) chunks.push(chunk);
const streamed = {
  first_role: chunks[0].choices[0].delta.role,
  text: chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""),
  finish_reasons: chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean),
  last_choices: chunks.at(-1).choices.length,
  usage: chunks.at(-1).usage,
  session_id: chunks.find((c) => c.platform)?.platform.session_id ?? null,
};

const cut = [];
const failedStream = await refusal(async () => {
  const dropping = await client.chat.completions.create({
    model: "agent",
    messages: [{ role: "user", content: "[[offline:drop_mid_stream]] tell me a long enough story to be cut" }],
    stream: true,
  });
  for await (const chunk of dropping) cut.push(chunk.choices[0]?.delta?.content ?? "");
});

const wrongKey = new OpenAI({ apiKey: "agk_000000000000_" + "C".repeat(43), maxRetries: 0 });
const result = {
  models,
  whole,
  streamed,
  mid_stream: { text: cut.join(""), ...failedStream },
  wrong_key: await refusal(() => wrongKey.chat.completions.create({ model: "agent", messages: hello })),
  tools: await refusal(() =>
    client.chat.completions.create({
      model: "agent",
      messages: hello,
      tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }],
    }),
  ),
};
console.log(JSON.stringify(result));
