// Drives hookd with Svix's official JavaScript SDK (`svix` from npm), unmodified but for the
// server URL, on Node.js. Run by tests/sdks.rs against a fresh node: HOOKD_URL, HOOKD_TOKEN
// and RECEIVER_URL (a real HTTP server that answers 200 to everything but paths under /fail,
// which answer 500); the SDK is found through NODE_PATH. Every check throws on failure; the
// last line printed is "ok <checks>"; the Rust side then checks what the receiver got.

import { createRequire } from "node:module";
import path from "node:path";

// An ES module ignores NODE_PATH, so the SDK is loaded from it explicitly.
const require = createRequire(path.join(process.env.NODE_PATH, "noop.js"));
const sdk = await import(require.resolve("svix"));
const { Svix, MessageStatus, StatusCodeClass, Ordering, messageInRaw, ApiException } = sdk;

const svix = new Svix(process.env.HOOKD_TOKEN, { serverUrl: process.env.HOOKD_URL });
const receiver = process.env.RECEIVER_URL;
let checks = 0;

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${typeof what === "string" ? what : JSON.stringify(what)}`);
  checks += 1;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const sorted = (list) => [...list].sort();

async function eventually(what, probe, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

await svix.health.get();

// Applications, in both orders.
for (const name of ["js-first", "js-second"]) await svix.application.create({ name, uid: name });
const asc = await svix.application.list({ order: Ordering.Ascending });
const desc = await svix.application.list({ order: Ordering.Descending });
check(same(asc.data.map((a) => a.uid), ["js-first", "js-second"]), asc);
check(same(desc.data.map((a) => a.uid), ["js-second", "js-first"]), desc);
const app = "js-first";

// Event types: schemas only on request; expunge deletes.
const schemas = { 1: { type: "object", examples: [{ order: 1 }, { order: 2 }] } };
await svix.eventType.create({ name: "order.paid", description: "paid", schemas });
await svix.eventType.create({ name: "order.gone", description: "gone" });
let types = await svix.eventType.list({ withContent: true });
check(same(types.data.find((t) => t.name === "order.paid").schemas, schemas), types);
types = await svix.eventType.list({ order: Ordering.Descending });
check(same(types.data.map((t) => t.name), ["order.paid", "order.gone"]), types);
check(types.data.every((t) => t.schemas == null), types);
await svix.eventType.delete("order.gone", { expunge: true });
try {
  await svix.eventType.get("order.gone");
  check(false, "an expunged event type is gone");
} catch (e) {
  check(e instanceof ApiException && e.code === 404, String(e));
}

// Endpoints: one that answers, one that fails.
const ok = await svix.endpoint.create(app, { url: `${receiver}/ok`, uid: "ok" });
const bad = await svix.endpoint.create(app, { url: `${receiver}/fail`, uid: "bad", channels: ["blue"] });
const eps = await svix.endpoint.list(app, { order: Ordering.Ascending });
check(same(eps.data.map((e) => e.uid), ["ok", "bad"]), eps);

// Messages with tags and channels, and a raw one.
const first = await svix.message.create(app, {
  eventType: "order.paid",
  payload: { n: 1 },
  tags: ["team/a"],
  channels: ["blue"],
});
const second = await svix.message.create(app, { eventType: "order.other", payload: { n: 2 }, tags: ["team_b"] });
check(same(first.tags, ["team/a"]), first);
const raw = await svix.message.create(app, messageInRaw("order.xml", "<n>3</n>", "application/xml"));
check(same(raw.payload, {}), raw);
const tagged = await svix.message.list(app, { tag: "team/a" });
check(same(tagged.data.map((m) => m.id), [first.id]), tagged);

const attempts = async (endpoint, options = {}) =>
  (await svix.messageAttempt.listByEndpoint(app, endpoint, options)).data;
// Distinct message ids (the failing endpoint retries, so a message may have several attempts).
const msgIds = (list) => sorted([...new Set(list.map((a) => a.msgId))]);

await eventually("the three messages attempted to ok", async () => (await attempts(ok.id)).length >= 3);
await eventually("the blue message attempted to bad", async () => (await attempts(bad.id)).length >= 1);

// Attempt filters, each on its own and combined.
check(same(msgIds(await attempts(ok.id, { status: MessageStatus.Success })), sorted([first.id, second.id, raw.id])), "success");
check((await attempts(ok.id, { status: MessageStatus.Fail })).length === 0, "no failure on ok");
check(same(msgIds(await attempts(bad.id, { statusCodeClass: StatusCodeClass.Code5xx })), [first.id]), "5xx");
check((await attempts(bad.id, { statusCodeClass: StatusCodeClass.Code2xx })).length === 0, "no 2xx on bad");
check(same(msgIds(await attempts(ok.id, { channel: "blue" })), [first.id]), "channel");
check(same(msgIds(await attempts(ok.id, { tag: "team_b" })), [second.id]), "tag");
check(same(msgIds(await attempts(ok.id, { eventTypes: ["order.other", "order.xml"] })), sorted([second.id, raw.id])), "types");
check((await attempts(ok.id, { tag: "team/a", eventTypes: ["order.other"] })).length === 0, "combined");
const later = new Date(Date.now() + 3600 * 1000);
check((await attempts(ok.id, { after: later })).length === 0, "after");
check((await attempts(ok.id, { before: later })).length >= 3, "before");
const withMsg = await attempts(ok.id, { withMsg: true, withContent: false });
check(withMsg.every((a) => a.msg && same(a.msg.payload, {})), "withMsg, never the payload");
check(withMsg.every((a) => a.response === ""), "withContent false");
check((await attempts(ok.id, { withContent: true }))[0].response !== "", "withContent true");
let byMsg = await svix.messageAttempt.listByMsg(app, first.id, { endpointId: bad.id });
check(byMsg.data.every((a) => a.endpointId === bad.id) && byMsg.data.length >= 1, byMsg);
byMsg = await svix.messageAttempt.listByMsg(app, first.id, { status: MessageStatus.Success });
check(same([...new Set(byMsg.data.map((a) => a.endpointId))], [ok.id]), byMsg);

// An endpoint's messages, with their delivery's state.
const delivered = await svix.messageAttempt.listAttemptedMessages(app, ok.id, {
  withContent: true,
  eventTypes: ["order.paid"],
});
check(same(delivered.data.map((m) => [m.id, m.payload, m.status]), [[first.id, { n: 1 }, MessageStatus.Success]]), delivered);

// Stats over a time range.
let stats = await svix.endpoint.getStats(app, ok.id, { since: later });
check(stats.success === 0 && stats.fail === 0, stats);
stats = await svix.endpoint.getStats(app, ok.id, { until: later });
check(stats.success === 3, stats);

// Send an example: the schema's second example, to ok alone.
const sent = await svix.endpoint.sendExample(app, ok.id, { eventType: "order.paid", exampleIndex: 1 });
check(same(sent.payload, { order: 2 }), sent);

// Expunge a payload, and an attempt's response.
await svix.message.expungeContent(app, second.id);
check(same((await svix.message.get(app, second.id)).payload, {}), "expunged");
const attempt = (await attempts(ok.id, { tag: "team/a" }))[0];
await svix.messageAttempt.expungeContent(app, first.id, attempt.id);
check((await svix.messageAttempt.get(app, first.id, attempt.id)).response === "", "attempt expunged");

// A filter hookd cannot honour is refused, never ignored.
try {
  await attempts(ok.id, { channel: "not valid!" });
  check(false, "a malformed channel is refused");
} catch (e) {
  check(e instanceof ApiException && e.code === 422, String(e));
}

// Operational-webhook endpoints through Svix's SDK routes.
const ops = svix.operationalWebhook.endpoint;
let op = await ops.create({ url: `${receiver}/ops`, eventTypes: ["endpoint.created"] });
check(same((await ops.list()).data.map((e) => e.id), [op.id]), "operational list");
op = await ops.upsert(op.id, { url: `${receiver}/ops2` });
check(op.url === `${receiver}/ops2`, op);
check((await ops.getSecret(op.id)).key.startsWith("whsec_"), "operational secret");
await ops.delete(op.id);
check((await ops.list()).data.length === 0, "operational endpoint deleted");

console.log("ok", checks);
