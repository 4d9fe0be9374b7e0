// The MCP benchmark's load generator: for each server given, opens one MCP
// session per virtual client (initialize + notifications/initialized), then
// runs the clients in closed loops (each sends its next request when the last
// answer is in), first `tools/list`, then `tools/call` on `echo`, checking
// every answer (JSON or SSE) and timing each request. Prints a table of
// requests/s, p50 and p99 per server and mode and, with two servers, the
// ratios first/second. Each --header (e.g. "Authorization: Bearer JWT") goes
// on every request to every server given.
//
//   node load.mjs [--clients 8] [--seconds 5] [--warmup 1] [--header "NAME: VALUE"]...
//                 NAME=URL [NAME=URL]
const PROTOCOL = "2025-11-25";

const opts = { clients: 8, seconds: 5, warmup: 1 };
const servers = [];
const extraHeaders = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a.startsWith("--") && a.slice(2) in opts) {
    opts[a.slice(2)] = Number(argv[++i]);
  } else if (a === "--header" && /^[^:\s]+:/.test(argv[i + 1] ?? "")) {
    const h = argv[++i];
    const colon = h.indexOf(":");
    extraHeaders[h.slice(0, colon)] = h.slice(colon + 1).trim();
  } else if (/^[^=]+=http/.test(a)) {
    const eq = a.indexOf("=");
    servers.push({ name: a.slice(0, eq), url: a.slice(eq + 1) });
  } else {
    console.error(`usage: node load.mjs [--clients N] [--seconds S] [--warmup S] [--header "NAME: VALUE"]... NAME=URL...`);
    process.exit(2);
  }
}
if (servers.length === 0 || !(opts.clients >= 1) || !(opts.seconds > 0) || !(opts.warmup >= 0)) {
  console.error("load.mjs: need at least one NAME=URL, clients >= 1, seconds > 0");
  process.exit(2);
}

// A JSON-RPC answer comes as one JSON body or as an SSE stream whose data
// lines may carry notifications (progress, logs) before the response: pick
// the message whose id is ours.
function findResponse(contentType, text, id) {
  let messages;
  if (contentType.startsWith("text/event-stream")) {
    messages = [];
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data !== "") messages.push(JSON.parse(data));
    }
  } else if (contentType.startsWith("application/json")) {
    const body = JSON.parse(text);
    messages = Array.isArray(body) ? body : [body];
  } else {
    throw new Error(`unexpected Content-Type "${contentType}"`);
  }
  const m = messages.find((x) => x && x.id === id);
  if (!m) throw new Error(`no response with id ${id} in: ${text.slice(0, 200)}`);
  if (m.error) throw new Error(`JSON-RPC error: ${JSON.stringify(m.error)}`);
  return m.result;
}

class Session {
  constructor(url) {
    this.url = url;
    this.sid = undefined;
    this.nextId = 1;
  }

  headers() {
    const h = { ...extraHeaders, "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
    if (this.sid) {
      h["Mcp-Session-Id"] = this.sid;
      h["MCP-Protocol-Version"] = PROTOCOL;
    }
    return h;
  }

  // Returns the result of method, or throws what was wrong with the answer.
  async request(method, params) {
    const id = this.nextId++;
    const res = await fetch(this.url, {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    const sid = res.headers.get("mcp-session-id");
    if (sid && !this.sid) this.sid = sid;
    return findResponse(res.headers.get("content-type") || "", text, id);
  }

  async open() {
    const r = await this.request("initialize", {
      protocolVersion: PROTOCOL,
      capabilities: {},
      clientInfo: { name: "toolgate-bench", version: "1.0.0" },
    });
    if (!this.sid) throw new Error("initialize: no Mcp-Session-Id header");
    if (r.protocolVersion !== PROTOCOL) throw new Error(`initialize: server chose ${r.protocolVersion}`);
    const res = await fetch(this.url, {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    });
    await res.text();
    if (res.status !== 202) throw new Error(`notifications/initialized: HTTP ${res.status}`);
  }

  async close() {
    // Not every server supports DELETE (405 is allowed); the answer is not checked.
    try {
      const res = await fetch(this.url, { method: "DELETE", headers: this.headers() });
      await res.text();
    } catch {
      /* the server may already be going */
    }
  }
}

// Each mode sends one request and throws unless its answer is the right result.
const modes = {
  "tools/list": async (s) => {
    const r = await s.request("tools/list", {});
    const echo = Array.isArray(r.tools) && r.tools.find((t) => t.name === "echo");
    if (!echo || echo.inputSchema?.type !== "object" || !echo.inputSchema?.properties?.text) {
      throw new Error(`tools/list without a proper echo tool: ${JSON.stringify(r).slice(0, 200)}`);
    }
  },
  "tools/call": async (s) => {
    const r = await s.request("tools/call", { name: "echo", arguments: { text: "hello" } });
    const c = r.content;
    if (r.isError || !Array.isArray(c) || c.length !== 1 || c[0].type !== "text" || c[0].text !== "ok") {
      throw new Error(`tools/call: wrong result: ${JSON.stringify(r).slice(0, 300)}`);
    }
  },
};

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

// Closed loops: every client runs warmup + seconds; only requests that start
// and end inside the measured window count, so the rate is count / seconds.
async function measure(sessions, send) {
  const t0 = performance.now();
  const from = t0 + opts.warmup * 1000;
  const to = from + opts.seconds * 1000;
  const latencies = [];
  let errors = 0;
  let firstError;
  await Promise.all(
    sessions.map(async (s) => {
      for (;;) {
        const start = performance.now();
        if (start >= to) return;
        let ok = true;
        try {
          await send(s);
        } catch (e) {
          ok = false;
          if (start >= from) {
            errors++;
            firstError ??= e.message;
          }
        }
        const end = performance.now();
        if (ok && start >= from && end <= to) latencies.push(end - start);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / opts.seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    n: latencies.length,
    errors,
    firstError,
  };
}

const results = [];
for (const srv of servers) {
  const sessions = Array.from({ length: opts.clients }, () => new Session(srv.url));
  await Promise.all(sessions.map((s) => s.open()));
  for (const [mode, send] of Object.entries(modes)) {
    results.push({ server: srv.name, mode, ...(await measure(sessions, send)) });
  }
  await Promise.all(sessions.map((s) => s.close()));
}

const fmt = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const pad = (s, n) => String(s).padStart(n);
console.log(
  `${opts.clients} clients in closed loops, ${opts.warmup} s warm-up, ${opts.seconds} s measured per server and mode`,
);
console.log(`${"server".padEnd(10)} ${"mode".padEnd(11)} ${pad("req/s", 9)} ${pad("p50 ms", 8)} ${pad("p99 ms", 8)} ${pad("requests", 9)} ${pad("errors", 7)}`);
for (const r of results) {
  console.log(
    `${r.server.padEnd(10)} ${r.mode.padEnd(11)} ${pad(fmt(r.rps, 0), 9)} ${pad(fmt(r.p50, 2), 8)} ${pad(fmt(r.p99, 2), 8)} ${pad(r.n, 9)} ${pad(r.errors, 7)}`,
  );
}
if (servers.length === 2) {
  const [a, b] = servers.map((s) => s.name);
  console.log();
  console.log(`ratios ${a}/${b}: throughput above 1 and p50 below 1 favour ${a}`);
  for (const mode of Object.keys(modes)) {
    const ra = results.find((r) => r.server === a && r.mode === mode);
    const rb = results.find((r) => r.server === b && r.mode === mode);
    console.log(`  ${mode.padEnd(11)} throughput ${fmt(ra.rps / rb.rps, 3)}   p50 ${fmt(ra.p50 / rb.p50, 3)}`);
  }
}
let bad = false;
for (const r of results) {
  if (r.errors > 0) {
    bad = true;
    console.log(`!!! ${r.server} ${r.mode}: ${r.errors} wrong answers; the first: ${r.firstError}`);
  }
}
process.exitCode = bad ? 1 : 0;
