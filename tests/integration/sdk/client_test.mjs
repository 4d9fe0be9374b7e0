// Drives a real toolgate daemon with the official MCP TypeScript SDK client:
// connect over Streamable HTTP, list the tools, call one with an outputSchema
// (the SDK itself validates structuredContent against it), call one with bad
// arguments and read the structured error, and follow a call's progress;
// then connect to a toolset's endpoint (/mcp/{toolset}), in search mode,
// where only search_tools is listed and what it finds becomes callable.
//
//   node client_test.mjs PATH/TO/toolgate
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";

const toolgate = process.argv[2];
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const examples = join(root, "examples", "workers");
const data = mkdtempSync(join(tmpdir(), "toolgate-sdk-"));

let passed = 0;
let failed = 0;
function check(what, ok, detail) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL: ${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

function startGateway() {
  const args = ["serve", "--insecure-no-auth", "--listen", "127.0.0.1:0", "--data-dir", data, "--warm", "2",
                "--deploy", examples];
  const child = spawn(toolgate, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/serving MCP at (http\S+)/);
      if (m) resolve({ child, url: m[1] });
    });
    child.on("exit", (code) => reject(new Error(`toolgate exited (${code}): ${stderr}`)));
    setTimeout(() => reject(new Error(`toolgate did not start: ${stderr}`)), 20000).unref();
  });
}

const { child, url } = await startGateway();
try {
  const client = new Client({ name: "toolgate-sdk-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  check("negotiated a protocol version", typeof client.getServerVersion()?.name === "string");

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  check("tools/list shows the sample workers", names.includes("format_text") && names.includes("date_time"), names);
  const format = tools.find((t) => t.name === "format_text");
  check("format_text has its outputSchema", format?.outputSchema?.required?.includes("words"), format);

  // The SDK validates structuredContent against the tool's outputSchema and
  // throws when it does not match.
  const ok = await client.callTool({ name: "format_text", arguments: { text: "  two  words ", case: "upper" } });
  check("format_text result", ok.structuredContent?.text === "TWO WORDS" && ok.structuredContent?.words === 2, ok);
  check("format_text text block", ok.content?.[0]?.type === "text", ok);

  // format_text has an outputSchema, so its errors come in _meta, where the
  // SDK's output validation does not look.
  const bad = await client.callTool({ name: "format_text", arguments: { txt: "x" } });
  const error = bad._meta?.["dev.toolgate/error"];
  check("bad arguments: no structuredContent to fail the outputSchema", bad.structuredContent === undefined, bad);
  check("bad arguments: isError", bad.isError === true, bad);
  check("bad arguments: INVALID_ARGUMENTS", error?.code === "INVALID_ARGUMENTS", bad);
  check("bad arguments: not retryable", error?.retryable === false, bad);
  check(
    "bad arguments: every violation with its path",
    error?.details?.some((d) => d.path === "" && d.keyword === "required") &&
      error?.details?.some((d) => d.path === "/txt" && d.keyword === "additionalProperties"),
    error?.details,
  );

  const progress = [];
  const withProgress = await client.request(
    { method: "tools/call", params: { name: "test_tool_with_progress", arguments: {}, _meta: { progressToken: "t1" } } },
    CallToolResultSchema,
    { onprogress: (p) => progress.push(p.progress) },
  );
  check("progress notifications arrive in order", progress.join(",") === "0,50,100", progress);
  check("progress call result", withProgress.content?.[0]?.text === "Progress test completed", withProgress);

  const failedCall = await client.callTool({ name: "test_error_handling", arguments: {} });
  check("worker error: isError with the worker's code", failedCall.isError === true && failedCall.structuredContent?.error?.code === "TEST_ERROR", failedCall);

  // Deprecation and retirement as the SDK sees them, on a tool with an
  // outputSchema (so a retired call's error must travel in _meta).
  const admin = (method, body) =>
    fetch(url.replace(/\/mcp$/, "") + "/v1/workers/format_text/deprecate", {
      method, headers: { "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
  const deprecation = { message: "use format_text_v2 instead", replacement: "format_text_v2" };
  check("deprecate answers 200", (await admin("POST", { ...deprecation, sunset: "2099-01-31" })).status === 200);
  const listed = (await client.listTools()).tools.find((t) => t.name === "format_text");
  check("a deprecated tool's description starts with its deprecation",
        listed?.description?.startsWith("Deprecated: use format_text_v2 instead (sunset 2099-01-31)\n"), listed);
  check("and its _meta has it", listed?._meta?.["dev.toolgate/deprecation"]?.replacement === "format_text_v2", listed);
  const noticed = await client.callTool({ name: "format_text", arguments: { text: "a", case: "upper" } });
  check("a deprecated tool's call runs, with the notice in _meta",
        noticed.structuredContent?.text === "A" && noticed._meta?.["dev.toolgate/deprecation"]?.sunset === "2099-01-31", noticed);
  await admin("POST", { ...deprecation, sunset: "2020-01-01" });
  const retired = await client.callTool({ name: "format_text", arguments: { text: "a", case: "upper" } });
  const retiredError = retired._meta?.["dev.toolgate/error"];
  check("past the sunset: TOOL_RETIRED, not retryable, naming the replacement",
        retired.isError === true && retiredError?.code === "TOOL_RETIRED" && retiredError?.retryable === false &&
          retiredError?.details?.replacement === "format_text_v2" && /format_text_v2/.test(retiredError?.message), retired);
  await admin("DELETE");
  const again = await client.callTool({ name: "format_text", arguments: { text: "a", case: "upper" } });
  check("undone: the call runs without a notice",
        again.structuredContent?.text === "A" && again._meta?.["dev.toolgate/deprecation"] === undefined, again);

  let unknownRejected = false;
  try {
    await client.callTool({ name: "no_such_tool", arguments: {} });
  } catch (e) {
    unknownRejected = /-32602|unknown tool/i.test(String(e?.code ?? "") + String(e?.message ?? ""));
  }
  check("unknown tool: JSON-RPC -32602", unknownRejected);

  await client.close();

  // A toolset in search mode, as the SDK sees it at /mcp/{toolset}.
  const put = await fetch(url.replace(/\/mcp$/, "") + "/v1/toolsets/texts", {
    method: "PUT", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ tools: ["format_text", "test_*"], mode: "search" }),
  });
  check("PUT /v1/toolsets/texts answers 201", put.status === 201, put.status);
  const scoped = new Client({ name: "toolgate-sdk-test", version: "1.0.0" });
  await scoped.connect(new StreamableHTTPClientTransport(new URL(url + "/texts")));
  const searchable = (await scoped.listTools()).tools.map((t) => t.name);
  check("a search-mode toolset lists search_tools only", searchable.join() === "search_tools", searchable);
  let hidden = false;
  try {
    await scoped.callTool({ name: "format_text", arguments: { text: "a", case: "upper" } });
  } catch (e) {
    hidden = /search_tools/.test(String(e?.message ?? ""));
  }
  check("a tool not yet found: unknown, with a hint to search", hidden);
  const found = await scoped.callTool({ name: "search_tools", arguments: { query: "format text in upper case" } });
  const foundNames = found.structuredContent?.tools?.map((t) => t.name) ?? [];
  check("search_tools finds format_text first", foundNames[0] === "format_text", found);
  check("and only tools of the toolset", foundNames.every((n) => n === "format_text" || n.startsWith("test_")), foundNames);
  const formatted = await scoped.callTool({ name: "format_text", arguments: { text: "a", case: "upper" } });
  check("the found tool runs", formatted.structuredContent?.text === "A", formatted);
  let outside = false;
  try {
    await scoped.callTool({ name: "date_time", arguments: {} });
  } catch (e) {
    outside = /-32602|unknown tool/i.test(String(e?.code ?? "") + String(e?.message ?? ""));
  }
  check("a tool outside the toolset is unknown", outside);
  await scoped.close();
} catch (e) {
  check("the SDK session ran to the end", false, String(e?.stack ?? e));
} finally {
  child.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
