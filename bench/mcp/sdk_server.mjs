// The peer for the MCP benchmark: the official TypeScript SDK's McpServer
// behind StreamableHTTPServerTransport (stateful sessions, one server and
// transport per session, as the SDK's docs show) on node:http, exposing the
// same `echo` tool as the benchmark's toolgate worker. The tool is a JS
// function run in-process; toolgate runs a fresh sandbox per call.
//
//   node sdk_server.mjs        # prints "sdk: serving MCP at http://127.0.0.1:PORT/mcp"
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const transports = new Map();

function newServer() {
  const server = new McpServer({ name: "sdk-echo", version: "1.0.0" });
  server.registerTool(
    "echo",
    { description: "Answers ok.", inputSchema: { text: z.string() } },
    async () => ({ content: [{ type: "text", text: "ok" }] }),
  );
  return server;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function fail(res, status, message) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
}

const http = createServer(async (req, res) => {
  try {
    if (new URL(req.url, "http://x").pathname !== "/mcp") return fail(res, 404, "not found");
    const sid = req.headers["mcp-session-id"];
    if (req.method !== "POST") {
      const t = sid && transports.get(sid);
      return t ? await t.handleRequest(req, res) : fail(res, 400, "no such session");
    }
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return fail(res, 400, "bad JSON");
    }
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid || !isInitializeRequest(body)) return fail(res, 400, "no such session");
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (e) {
    if (!res.headersSent) fail(res, 500, String(e));
  }
});

http.keepAliveTimeout = 60000;
http.listen(0, "127.0.0.1", () => {
  console.log(`sdk: serving MCP at http://127.0.0.1:${http.address().port}/mcp`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
