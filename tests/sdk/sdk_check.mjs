// Drives cic-control with the official OpenAI Node SDK, unchanged except for baseURL and apiKey.
// Exits non-zero with a message on the first thing that does not work as the SDK expects.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.CIC_BASE_URL, apiKey: process.env.CIC_API_KEY, maxRetries: 0 });
const chatModel = process.env.CIC_CHAT_MODEL;
const embedModel = process.env.CIC_EMBED_MODEL;

const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
assert.ok(ids.includes(chatModel), `models.list lacks ${chatModel}: ${ids}`);

const chat = await client.chat.completions.create({
  model: chatModel, max_tokens: 8, messages: [{ role: 'user', content: 'Hello from the SDK' }],
});
assert.equal(chat.object, 'chat.completion');
assert.ok(chat.choices[0].message.content.length > 0);
assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);

let streamed = '';
let usage = null;
const stream = await client.chat.completions.create({
  model: chatModel, max_tokens: 8, stream: true, stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'Hello from the SDK' }],
});
for await (const chunk of stream) {
  if (chunk.choices.length > 0) streamed += chunk.choices[0].delta.content ?? '';
  if (chunk.usage) usage = chunk.usage;
}
assert.equal(streamed, chat.choices[0].message.content, 'streamed text equals the non-streamed text');
assert.equal(usage.completion_tokens, chat.usage.completion_tokens);

let plain = 0;
const noUsage = await client.chat.completions.create({
  model: chatModel, max_tokens: 4, stream: true, messages: [{ role: 'user', content: 'again' }],
});
for await (const chunk of noUsage) {
  assert.equal(chunk.usage ?? null, null, 'no usage when not asked for');
  plain += 1;
}
assert.ok(plain > 1);

const completion = await client.completions.create({ model: chatModel, prompt: 'Once upon a time', max_tokens: 5 });
assert.equal(completion.object, 'text_completion');
assert.equal(completion.usage.completion_tokens, 5);
let completionText = '';
for await (const chunk of await client.completions.create({ model: chatModel, prompt: 'Once upon a time', max_tokens: 5, stream: true })) {
  completionText += chunk.choices[0]?.text ?? '';
}
assert.equal(completionText, completion.choices[0].text);

// The SDK asks for base64 by default and decodes it to floats itself.
const embedding = await client.embeddings.create({ model: embedModel, input: ['first', 'second'] });
assert.equal(embedding.data.length, 2);
assert.ok(Array.isArray(embedding.data[0].embedding) && embedding.data[0].embedding.length > 0);
const floats = await client.embeddings.create({ model: embedModel, input: 'first', encoding_format: 'float' });
assert.ok(Math.abs(floats.data[0].embedding[0] - embedding.data[0].embedding[0]) < 1e-6);

try {
  await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
  assert.fail('expected NotFoundError');
} catch (err) {
  assert.ok(err instanceof OpenAI.NotFoundError, `got ${err}`);
  assert.equal(err.code, 'model_not_found');
}
try {
  await new OpenAI({ baseURL: process.env.CIC_BASE_URL, apiKey: 'sk_dev_wrong', maxRetries: 0 }).models.list();
  assert.fail('expected AuthenticationError');
} catch (err) {
  assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err}`);
}
console.log('openai sdk: all checks passed');
