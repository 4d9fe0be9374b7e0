// Joins the JSON lines of bench_schema (toolgate) and bench_ajv.js (ajv) into
// the table run.sh prints, and warns loudly wherever the two validators, or a
// validator and the case's own valid/invalid label, disagree on an instance.
//   node report.js CASES_DIR TOOLGATE.jsonl AJV.jsonl
"use strict";
const fs = require("fs");
const path = require("path");

const [casesDir, tgFile, ajvFile] = process.argv.slice(2);
if (!ajvFile) {
  console.error("usage: node report.js CASES_DIR TOOLGATE.jsonl AJV.jsonl");
  process.exit(2);
}

function readLines(file) {
  const byCase = new Map();
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const r = JSON.parse(line);
    byCase.set(r.case, r);
  }
  return byCase;
}
const tg = readLines(tgFile);
const ajv = readLines(ajvFile);
const names = [...new Set([...tg.keys(), ...ajv.keys()])].sort();

const num = (x, digits = 0) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);
const geomean = (xs) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
const verdict = (v) => (v ? "valid" : "invalid");

const W = Math.max(4, ...names.map((n) => n.length));
const warnings = [];
const ratios = { check: [], errors: [] };

console.log(
  `${padEnd("case", W)}  ${padEnd("mode", 6)}  ${pad("toolgate/s", 13)}  ${pad("ajv/s", 13)}  ${pad("ratio", 7)}` +
    `  ${pad("errors per invalid (tg / ajv)", 29)}`
);
for (const name of names) {
  const t = tg.get(name);
  const a = ajv.get(name);
  for (const mode of ["check", "errors"]) {
    const tv = t && t[`${mode}_per_sec`];
    const av = a && a[`${mode}_per_sec`];
    const cell = (r, v) => (v !== undefined ? num(v) : r ? "compile err" : "missing");
    let ratio = "n/a";
    if (tv !== undefined && av !== undefined) {
      ratios[mode].push(tv / av);
      ratio = num(tv / av, 2) + "x";
    }
    let errs = "";
    if (mode === "errors" && t && a && t.errors_per_invalid !== undefined && a.errors_per_invalid !== undefined)
      errs = `${num(t.errors_per_invalid, 1)} / ${num(a.errors_per_invalid, 1)}`;
    console.log(
      `${padEnd(name, W)}  ${padEnd(mode, 6)}  ${pad(cell(t, tv), 13)}  ${pad(cell(a, av), 13)}  ${pad(ratio, 7)}  ${pad(errs, 29)}`
    );
  }
}
for (const mode of ["check", "errors"]) {
  if (ratios[mode].length)
    console.log(
      `geometric mean ratio, ${mode}: ${num(geomean(ratios[mode]), 2)}x over ${ratios[mode].length} cases` +
        " (toolgate validations/s over ajv's; above 1 means toolgate is faster)"
    );
}

console.log("");
console.log(`${padEnd("case", W)}  ${pad("toolgate compile µs", 19)}  ${pad("ajv compile µs", 14)}  ${pad("ratio", 7)}`);
const compileRatios = [];
for (const name of names) {
  const t = tg.get(name);
  const a = ajv.get(name);
  const cell = (r) => (!r ? "missing" : r.compile_us !== undefined ? num(r.compile_us, 1) : "error");
  let ratio = "n/a";
  if (t && a && t.compile_us !== undefined && a.compile_us !== undefined) {
    compileRatios.push(a.compile_us / t.compile_us);
    ratio = num(a.compile_us / t.compile_us, 2) + "x";
  }
  console.log(`${padEnd(name, W)}  ${pad(cell(t), 19)}  ${pad(cell(a), 14)}  ${pad(ratio, 7)}`);
  for (const [who, r] of [["toolgate", t], ["ajv", a]]) {
    if (!r) warnings.push(`${name}: no result from ${who}`);
    else if (r.compile_error) warnings.push(`${name}: ${who} could not compile the schema: ${r.compile_error}`);
  }
}
if (compileRatios.length)
  console.log(
    `geometric mean compile ratio: ${num(geomean(compileRatios), 2)}x over ${compileRatios.length} cases` +
      " (ajv's compile time over toolgate's; above 1 means toolgate compiles faster)"
  );

// Verdicts: every instance, in both modes of both validators, against the label.
const short = (x) => {
  const s = JSON.stringify(x);
  return s.length <= 300 ? s : s.slice(0, 300) + "…";
};
for (const name of names) {
  const doc = JSON.parse(fs.readFileSync(path.join(casesDir, name + ".json"), "utf8"));
  const labels = doc.valid.map(() => true).concat(doc.invalid.map(() => false));
  const instances = doc.valid.concat(doc.invalid);
  const where = (i) => (i < doc.valid.length ? `valid[${i}]` : `invalid[${i - doc.valid.length}]`);
  const t = tg.get(name);
  const a = ajv.get(name);
  for (const [who, r] of [["toolgate", t], ["ajv", a]]) {
    if (!r || !r.verdicts_check) continue;
    r.verdicts_check.forEach((v, i) => {
      if (v !== r.verdicts_errors[i])
        warnings.push(`${name} ${where(i)}: ${who} says ${verdict(v)} in check mode but ${verdict(r.verdicts_errors[i])} in errors mode`);
    });
  }
  labels.forEach((label, i) => {
    const tv = t && t.verdicts_check ? t.verdicts_check[i] : undefined;
    const av = a && a.verdicts_check ? a.verdicts_check[i] : undefined;
    const wrong = [];
    if (tv !== undefined && tv !== label) wrong.push("toolgate");
    if (av !== undefined && av !== label) wrong.push("ajv");
    if (wrong.length === 0) return;
    const says = [tv !== undefined ? `toolgate: ${verdict(tv)}` : null, av !== undefined ? `ajv: ${verdict(av)}` : null]
      .filter(Boolean)
      .join(", ");
    const kind = tv !== undefined && av !== undefined && tv !== av ? "VALIDATORS DISAGREE" : "WRONG VERDICT";
    warnings.push(
      `${kind}: ${name} ${where(i)} is labelled ${verdict(label)}; ${says} (wrong: ${wrong.join(", ")})\n      instance: ${short(instances[i])}`
    );
  });
}

console.log("");
if (warnings.length === 0) {
  console.log("verdicts: toolgate and ajv agree with each other and with every case's labels");
} else {
  for (const w of warnings) console.log(`!!! ${w}`);
  console.log(`!!! ${warnings.length} warning(s) above: see bench/README.md on reading them`);
}
