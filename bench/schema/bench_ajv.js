// The ajv side of bench/schema: compiles each case's schema once per mode,
// times validations over the case's instances, and prints one JSON line per
// case with the same fields as bench_schema.c prints for toolgate.
//   node bench_ajv.js CASES_DIR [SECONDS_PER_MEASUREMENT]
"use strict";
const fs = require("fs");
const path = require("path");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const casesDir = process.argv[2];
const seconds = Number(process.argv[3] || "0.4");
if (!casesDir || !(seconds > 0)) {
  console.error("usage: node bench_ajv.js CASES_DIR [SECONDS]");
  process.exit(2);
}

// strict: false because strict mode only rejects schemas at compile time (the
// suite's schemas use keywords it frowns on); validation is the same.
function makeAjv(allErrors) {
  const ajv = new Ajv2020({ allErrors, strict: false });
  addFormats(ajv);
  return ajv;
}

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

// Results feed this so no validation is ever provably unused.
let sink = 0;

// Runs pass() (one validation of every instance) in batches that take about a
// millisecond, so reading the clock costs nothing next to the work, after a
// warm-up that lets the JIT compile the validator and sizes the batch; then
// times ROUNDS rounds and keeps the best, since noise from the rest of the
// machine (and a late JIT tier-up) only ever slows a round down.
const ROUNDS = 3;
function passesPerSecond(pass) {
  let batch = 1;
  const warmEnd = now() + seconds / 4;
  while (now() < warmEnd) {
    const t0 = now();
    for (let i = 0; i < batch; i++) pass();
    if (now() - t0 < 0.001) batch *= 2;
  }
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let passes = 0;
    const start = now();
    let elapsed = 0;
    do {
      for (let i = 0; i < batch; i++) pass();
      passes += batch;
      elapsed = now() - start;
    } while (elapsed < seconds / ROUNDS);
    best = Math.max(best, passes / elapsed);
  }
  return best;
}

// Mean compile time over repeated compiles of fresh copies of the schema; the
// ajv instance is kept, as a long-lived gateway would keep it.
function compileMicros(ajv, schema) {
  let n = 0;
  let total = 0;
  const end = now() + Math.min(0.2, seconds / 2);
  do {
    const copy = structuredClone(schema);
    const t0 = now();
    ajv.compile(copy);
    total += now() - t0;
    ajv.removeSchema(copy);
    n++;
  } while (n < 3 || now() < end);
  return (total / n) * 1e6;
}

const files = fs.readdirSync(casesDir).filter((f) => f.endsWith(".json")).sort();
for (const file of files) {
  const name = file.replace(/\.json$/, "");
  const doc = JSON.parse(fs.readFileSync(path.join(casesDir, file), "utf8"));
  const instances = doc.valid.concat(doc.invalid);
  const out = { validator: "ajv", case: name };
  try {
    const checkAjv = makeAjv(false);
    const errorsAjv = makeAjv(true);
    out.compile_us = compileMicros(checkAjv, doc.schema);
    const check = checkAjv.compile(structuredClone(doc.schema));
    const errors = errorsAjv.compile(structuredClone(doc.schema));

    out.verdicts_check = instances.map((x) => check(x));
    let errorCount = 0;
    out.verdicts_errors = instances.map((x) => {
      const ok = errors(x);
      if (!ok) errorCount += errors.errors.length;
      return ok;
    });
    out.errors_per_invalid = doc.invalid.length ? errorCount / doc.invalid.length : 0;

    const n = instances.length;
    out.check_per_sec = n * passesPerSecond(() => {
      for (let i = 0; i < n; i++) if (check(instances[i])) sink++;
    });
    out.errors_per_sec = n * passesPerSecond(() => {
      for (let i = 0; i < n; i++) if (!errors(instances[i])) sink += errors.errors.length;
    });
  } catch (e) {
    out.compile_error = String(e.message || e);
  }
  console.log(JSON.stringify(out));
}
console.error(`ajv: done (sink ${sink})`);
