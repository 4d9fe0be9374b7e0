// The peer of bench_metrics.c: the same operations with prom-client (the
// Prometheus client most Node services use) and pino (the usual fast JSON
// logger for Node), on one thread, timed the same way: a warm-up of a
// quarter of SECONDS that sizes batches of about a millisecond, then 3
// rounds sharing SECONDS, the best kept. Prints the same lines as
// bench_metrics, KEY NS_PER_OP OPS_PER_S EXTRA DESCRIPTION..., with the same
// keys, so that run.sh can join them.
//   node --expose-gc peer.mjs SECONDS
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import client from 'prom-client';

const ROUNDS = 3;
const TENANTS = 50;
const TOOLS = 20;
const NEW_TENANTS = 1000;
const NEW_TOOLS = 100;

const seconds = Number(process.argv[2]);
if (!(seconds > 0)) {
  console.error('usage: node --expose-gc peer.mjs SECONDS');
  process.exit(2);
}

// As bench_metrics.c: toolgate's call buckets (+Inf is prom-client's own),
// the durations observed in turn, label values made before timing.
const callBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  10, 30, 60];
const durations = [0.0003, 0.0008, 0.002, 0.004, 0.008, 0.02, 0.04, 0.08, 0.2, 0.4, 0.8, 2, 4, 8,
  20, 45];
const tenantNames = Array.from({ length: NEW_TENANTS },
  (_, i) => `tenant-${String(i).padStart(3, '0')}`);
const toolNames = Array.from({ length: NEW_TOOLS }, (_, i) => `tool_${String(i).padStart(2, '0')}`);

function metricsOf(registry) {
  const counter = new client.Counter({
    name: 'toolgate_calls_total',
    help: 'Finished calls by outcome: status ok or error, code the error code.',
    labelNames: ['tenant', 'tool', 'status', 'code'],
    registers: [registry],
  });
  const histogram = new client.Histogram({
    name: 'toolgate_call_duration_seconds',
    help: 'Whole calls, from being taken to being answered.',
    labelNames: ['tenant', 'tool'],
    buckets: callBuckets,
    registers: [registry],
  });
  return { counter, histogram };
}

function report(key, rate, extra, description) {
  console.log(`${key} ${(1e9 / rate).toFixed(2)} ${rate.toFixed(0)} ${extra} ${description}`);
}

// op(n) runs n operations (and may return a promise). Returns the best
// round's operations per second.
async function opsPerSecond(op) {
  let batch = 1;
  const warmEnd = performance.now() + (seconds * 1000) / 4;
  while (performance.now() < warmEnd) {
    const t0 = performance.now();
    await op(batch);
    if (performance.now() - t0 < 1) batch *= 2;
  }
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let ops = 0;
    let elapsed;
    const start = performance.now();
    do {
      await op(batch);
      ops += batch;
      elapsed = performance.now() - start;
    } while (elapsed < (seconds * 1000) / ROUNDS);
    best = Math.max(best, (ops / elapsed) * 1000);
  }
  return best;
}

// Updates on an existing series, among TENANTS x TOOLS others, labels
// passed on every update as a gateway would (its values change per call).
async function benchUpdates() {
  const registry = new client.Registry();
  const { counter, histogram } = metricsOf(registry);
  for (let t = 0; t < TENANTS; t++) {
    for (let k = 0; k < TOOLS; k++) {
      counter.inc({ tenant: tenantNames[t], tool: toolNames[k], status: 'ok', code: '' });
      histogram.observe({ tenant: tenantNames[t], tool: toolNames[k] }, 0.01);
    }
  }
  const tenant = tenantNames[0];
  const tool = toolNames[0];
  report('counter_inc', await opsPerSecond((n) => {
    for (let i = 0; i < n; i++) counter.inc({ tenant, tool, status: 'ok', code: '' }, 1);
  }), '-', 'counter +1, 4 labels, existing series');
  report('histogram_observe', await opsPerSecond((n) => {
    for (let i = 0; i < n; i++) histogram.observe({ tenant, tool }, durations[i & 15]);
  }), '-', 'histogram observe, 2 labels, existing series');
}

// First use of NEW_TENANTS x NEW_TOOLS series of a fresh metric, best of
// ROUNDS; the heap each series took (after a full GC, before and after).
function benchCreation(key, kind, description) {
  const n = NEW_TENANTS * NEW_TOOLS;
  let best = 0;
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const registry = new client.Registry();
    const { counter, histogram } = metricsOf(registry);
    global.gc();
    const before = process.memoryUsage().heapUsed;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const tenant = tenantNames[Math.floor(i / NEW_TOOLS)];
      const tool = toolNames[i % NEW_TOOLS];
      if (kind === 'histogram') histogram.observe({ tenant, tool }, 0.01);
      else counter.inc({ tenant, tool, status: 'ok', code: '' }, 1);
    }
    best = Math.max(best, (n / (performance.now() - start)) * 1000);
    global.gc();
    bytes = process.memoryUsage().heapUsed - before;
    registry.clear();
  }
  report(key, best, String(Math.round(bytes / n)), description);
}

async function benchRender() {
  const registry = new client.Registry();
  const { counter, histogram } = metricsOf(registry);
  for (let t = 0; t < TENANTS; t++) {
    for (let k = 0; k < TOOLS; k++) {
      const labels = { tenant: tenantNames[t], tool: toolNames[k] };
      counter.inc({ ...labels, status: 'ok', code: '' }, t * TOOLS + k + 1);
      for (let i = 0; i < 5; i++) histogram.observe(labels, durations[(t + k + i) & 15]);
    }
  }
  const text = await registry.metrics();
  const lines = text.split('\n').length - 1;
  const rate = await opsPerSecond(async (n) => {
    for (let i = 0; i < n; i++) await registry.metrics();
  });
  report('render', rate, String(Buffer.byteLength(text)),
    `register.metrics(): ${TENANTS * TOOLS} counter + ${TENANTS * TOOLS} histogram series, ` +
    `${lines} lines`);
}

// pino made to write lines like toolgate's: ISO time, the level's name, no
// pid or hostname, the call's context as fields of the line.
async function benchLog() {
  const options = {
    level: 'info',
    base: null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const ctx = {
    tenant: 'acme',
    call_id: '0af7651916cd43dd8448eb211c80319c',
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  };
  // sync: a write(2) per line, as tg_log does.
  const syncDest = pino.destination({ dest: '/dev/null', sync: true });
  const logger = pino(options, syncDest);
  const message = 'call of %s finished in %d ms';
  report('log_line', await opsPerSecond((n) => {
    for (let i = 0; i < n; i++) logger.info(ctx, message, 'web_search', i & 1023);
  }), '-', 'log a line (3 context fields, 2 args) to /dev/null, sync destination');
  report('log_dropped', await opsPerSecond((n) => {
    for (let i = 0; i < n; i++) logger.debug(ctx, message, 'web_search', i & 1023);
  }), '-', 'log a line below the level (dropped)');
  // pino's default destination: lines are buffered and written by the event
  // loop in big writes, so each batch yields to let them go.
  const asyncDest = pino.destination({ dest: '/dev/null', sync: false });
  await new Promise((resolve) => asyncDest.once('ready', resolve));
  const asyncLogger = pino(options, asyncDest);
  report('log_line_async', await opsPerSecond(async (n) => {
    for (let i = 0; i < n; i++) asyncLogger.info(ctx, message, 'web_search', i & 1023);
    await new Promise((resolve) => setImmediate(resolve));
  }), '-', 'log a line, pino\'s default async destination (writes batched)');
  asyncDest.flushSync();
}

await benchUpdates();
benchCreation('create_counter', 'counter', 'first use of a counter series');
benchCreation('create_histogram', 'histogram', 'first use of a histogram series');
await benchRender();
await benchLog();
