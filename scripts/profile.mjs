// CPU profile of a running `wrangler dev` worker under load, through its inspector
// (the V8 sampling profiler, wasm functions included): where a request's time goes.
//
//   node scripts/profile.mjs <inspector-port> <url> [connections=16] [seconds=5] [top=40]
//
// Prints self time by function (wasm functions by name when the wasm keeps its name
// section: build with EDGEBACK_KEEP_NAMES=1), grouped into JavaScript glue, wasm, and
// the runtime's own buckets ((program), (garbage collector), (idle)).
import http from "node:http";
import WebSocket from "ws";

const [port, target, connectionsArg, secondsArg, topArg] = process.argv.slice(2);
if (!port || !target) {
  console.error("usage: node scripts/profile.mjs <inspector-port> <url> [connections] [seconds] [top]");
  process.exit(2);
}
const connections = Number(connectionsArg ?? 16);
const seconds = Number(secondsArg ?? 5);
const top = Number(topArg ?? 40);

const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
const debuggerUrl = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
if (!debuggerUrl) throw new Error(`no inspector target on port ${port}: ${JSON.stringify(targets)}`);
const socket = new WebSocket(debuggerUrl);
await new Promise((resolve, reject) => {
  socket.once("open", resolve);
  socket.once("error", reject);
});
let nextId = 1;
const pending = new Map();
socket.on("message", (data) => {
  const message = JSON.parse(data.toString());
  if (message.id && pending.has(message.id)) {
    pending.get(message.id)(message);
    pending.delete(message.id);
  }
});
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });

await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });

const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
let answered = 0;
let running = true;
const one = () =>
  new Promise((resolve) => {
    const request = http.get(target, { agent }, (response) => {
      response.resume();
      response.on("end", () => {
        answered++;
        resolve();
      });
    });
    request.on("error", () => resolve());
  });
const client = async () => {
  while (running) await one();
};
// Warm up, then profile a steady load.
const warm = Array.from({ length: connections }, client);
await new Promise((r) => setTimeout(r, 1000));
answered = 0;
await send("Profiler.start");
const started = Date.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const { result } = await send("Profiler.stop");
const elapsed = (Date.now() - started) / 1000;
running = false;
await Promise.all(warm);
socket.close();

const profile = result.profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = new Map();
// Sample counts by node, converted to microseconds with the time deltas.
for (let k = 0; k < profile.samples.length; k++) {
  const id = profile.samples[k];
  dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[k] ?? 0));
}
const self = new Map();
let total = 0;
for (const [id, micros] of dt) {
  const node = byId.get(id);
  const frame = node.callFrame;
  const name = frame.functionName || "(anonymous)";
  const where = frame.url ? frame.url.replace(/^.*\//, "") : "";
  const key = `${name} ${where}${frame.url ? `:${frame.lineNumber + 1}:${frame.columnNumber + 1}` : ""}`.trim();
  self.set(key, (self.get(key) ?? 0) + micros);
  total += micros;
}
const idle = self.get("(idle)") ?? 0;
const busy = total - idle;
const kind = (key) =>
  key.startsWith("(") ? key.split(" ")[0] : /wasm|^\$|wasm-function/.test(key) ? "wasm" : "javascript";
const byKind = new Map();
for (const [key, micros] of self) byKind.set(kind(key), (byKind.get(kind(key)) ?? 0) + micros);
console.log(`${answered} requests in ${elapsed.toFixed(1)} s (${(answered / elapsed).toFixed(0)}/s); ` +
  `profiled isolate busy ${(busy / 1000).toFixed(0)} ms = ${(busy / Math.max(answered, 1)).toFixed(0)} µs per request`);
for (const [k, micros] of [...byKind].sort((a, b) => b[1] - a[1]))
  console.log(`  ${k}: ${(micros / Math.max(answered, 1)).toFixed(1)} µs per request`);
console.log(`\ntop ${top} by self time (µs per request):`);
for (const [key, micros] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`${(micros / Math.max(answered, 1)).toFixed(2).padStart(9)}  ${key}`);
