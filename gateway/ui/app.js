// The toolgate admin console. It reads and acts only through the documented
// /v1 API with the bearer token the user signed in with, which it keeps in
// this tab's sessionStorage. Everything from the API reaches the page as
// text (textContent, attributes), never as markup.
'use strict';

const TOKEN_KEY = 'toolgate.token';
const PAGE = 200; // runs per page of /v1/runs
const LAST_RUNS = 5; // runs shown per schedule

const $ = (id) => document.getElementById(id);

// An element with attributes and children (strings become text nodes).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function showError(id, message) {
  const p = $(id);
  p.textContent = message || '';
  p.hidden = !message;
}

function time(ms) {
  if (ms === null || ms === undefined) return '';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function short(hash) {
  const s = String(hash || '');
  return el('code', { title: s }, s.length > 12 ? s.slice(0, 12) + '…' : s);
}

function latency(ms) {
  return ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : ms + ' ms';
}

// ---- the API -------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A /v1 request with the token. Resolves to the JSON answer; rejects with an
// ApiError carrying the API's own message. A 401 ends the session.
async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method: options.method || 'GET', headers, body: options.body,
                              cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'the gateway cannot be reached: ' + e.message);
  }
  let doc = null;
  try {
    doc = await res.json();
  } catch (e) {
    doc = null;
  }
  if (res.ok) return doc;
  const err = (doc && doc.error) || {};
  const message = err.message || res.status + ' ' + res.statusText;
  if (res.status === 401) {
    signOut(message);
  }
  throw new ApiError(res.status, err.code || String(res.status), message);
}

const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) s.set(k, v);
  const text = s.toString();
  return text ? '?' + text : '';
};

// ---- signing in and out --------------------------------------------------

// The token's claims, for the header only: the gateway checks the token.
function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch (e) {
    return {};
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $('console').hidden = true;
  $('nav').hidden = true;
  $('who').hidden = true;
  $('sign-in').hidden = false;
  $('token').value = '';
  showError('sign-in-error', message);
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    // The workers list is the first thing shown; it also proves the token.
    await loadWorkers();
  } catch (e) {
    // A 401 has signed out already; a 403 is a good token without
    // workers:deploy, which may still read the calls and the audit.
    if (e.status === 401) return;
    if (e.status !== 403) {
      signOut(e.message);
      return;
    }
  }
  const c = claims(token);
  $('who-name').textContent = [c.sub, c.tenant].filter(Boolean).join(' @ ');
  $('sign-in').hidden = true;
  showError('sign-in-error', '');
  $('console').hidden = false;
  $('nav').hidden = false;
  $('who').hidden = false;
  await Promise.all([loadCalls(), loadSchedules(), verify()]);
}

// ---- workers ---------------------------------------------------------------

let workerNames = [];

// A deprecated worker says so under its name: until the sunset its calls
// run with a notice, after it they are refused (TOOL_RETIRED).
function deprecationBadge(d) {
  if (!d) return null;
  const retired = Date.parse(d.sunset) <= Date.now();
  const to = d.replacement ? ' \u2192 ' + d.replacement : '';
  return el('div', { class: 'badge err', title: d.message },
            (retired ? 'retired since ' : 'deprecated, sunset ') + d.sunset + to);
}

function fixturesCell(f) {
  if (!f) return el('span', { class: 'muted' }, 'not run');
  const failed = f.failed > 0;
  return el('span', { class: failed ? 'badge err' : 'badge ok',
                      title: f.checked_at ? 'checked ' + time(f.checked_at) + ' UTC' : '' },
            `${f.passed} passed, ${f.failed} failed`);
}

async function loadWorkers() {
  showError('workers-error', '');
  let list;
  try {
    list = await api('/v1/workers');
  } catch (e) {
    showError('workers-error', e.message);
    throw e;
  }
  const workers = list.workers || [];
  // Each worker's definition hash and fixtures are on its own document.
  const details = await Promise.all(workers.map((w) =>
    api('/v1/workers/' + encodeURIComponent(w.name)).catch((e) => ({ failed: e.message }))));
  const body = $('workers-table').tBodies[0];
  body.replaceChildren();
  workers.forEach((w, i) => {
    const d = details[i];
    const current = (d.versions || []).find((v) => v.current) || {};
    body.append(el('tr', { 'data-worker': w.name },
      el('td', {}, el('button', { type: 'button', class: 'link', title: w.description || '',
                                   onclick: () => showVersions(w.name) }, w.name),
         w.title ? el('div', { class: 'muted small' }, w.title) : null,
         deprecationBadge(w.deprecation)),
      el('td', { class: 'semver' }, w.semver),
      el('td', {}, short(w.version)),
      el('td', { class: 'definition' }, d.failed ? el('span', { class: 'error' }, d.failed)
                                                 : short(d.definition_hash)),
      el('td', {}, fixturesCell(current.fixtures)),
      el('td', { class: 'num' }, d.output_schema_violations ?? ''),
      el('td', {}, el('button', { type: 'button', class: 'run',
                                   onclick: () => openRun(w.name) }, 'Run…'))));
  });
  if (!workers.length) {
    body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No workers deployed.')));
  }
  workerNames = workers.map((w) => w.name);
  const select = $('filter-worker');
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '' }, 'any'),
                         ...workerNames.map((n) => el('option', {}, n)));
  select.value = workerNames.includes(chosen) ? chosen : '';
}

async function showVersions(name) {
  const panel = $('worker-detail');
  $('worker-detail-name').textContent = name;
  const body = $('versions-table').tBodies[0];
  body.replaceChildren();
  panel.hidden = false;
  let doc;
  try {
    doc = await api('/v1/workers/' + encodeURIComponent(name) + '/versions');
  } catch (e) {
    body.append(el('tr', {}, el('td', { colspan: 7, class: 'error' }, e.message)));
    return;
  }
  // Newest first: the one a rollback would leave.
  for (const v of (doc.versions || []).slice().reverse()) {
    body.append(el('tr', { class: v.current ? 'current' : '' },
      el('td', {}, v.semver), el('td', {}, short(v.version)), el('td', {}, time(v.created_at)),
      el('td', {}, short(v.definition_hash)), el('td', {}, fixturesCell(v.fixtures)),
      el('td', { class: 'num' }, v.output_schema_violations,
         v.last_violation_at ? el('div', { class: 'muted small' }, 'last ' + time(v.last_violation_at)) : null),
      el('td', {}, v.current ? 'current' : '')));
  }
}

function openRun(name) {
  $('run-worker').textContent = name;
  $('run-form').dataset.worker = name;
  $('run-form').hidden = false;
  $('run-result').hidden = true;
  showError('run-error', '');
  $('run-args').focus();
}

async function run(event) {
  event.preventDefault();
  const name = $('run-form').dataset.worker;
  showError('run-error', '');
  $('run-result').hidden = true;
  let args;
  try {
    args = JSON.parse($('run-args').value || '{}');
  } catch (e) {
    showError('run-error', 'The arguments are not JSON: ' + e.message);
    return;
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    showError('run-error', 'The arguments must be a JSON object.');
    return;
  }
  const button = $('run-submit');
  button.disabled = true;
  try {
    // The body is the arguments themselves; the answer is the CallToolResult
    // with its call_id.
    const result = await api('/v1/workers/' + encodeURIComponent(name) + '/run',
                             { method: 'POST', body: JSON.stringify(args) });
    const out = $('run-result');
    out.textContent = JSON.stringify(result, null, 2);
    out.className = result.isError ? 'failed' : '';
    out.hidden = false;
    // The history records a run just after its answer: look again for a
    // moment until it is there (or the filters hide it).
    for (let tries = 0; tries < 10; tries++) {
      await loadCalls();
      if (!result.call_id || runs.some((r) => r.call_id === result.call_id)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (e) {
    showError('run-error', e.message);
  } finally {
    button.disabled = false;
  }
}

// ---- calls -----------------------------------------------------------------

let runs = [];
let nextCursor = null;

function filters() {
  return { worker: $('filter-worker').value, status: $('filter-status').value,
           trigger: $('filter-trigger').value };
}

async function loadCalls(more = false) {
  showError('calls-error', '');
  let doc;
  try {
    doc = await api('/v1/runs' + q({ ...filters(), limit: String(PAGE),
                                     cursor: more ? nextCursor : '' }));
  } catch (e) {
    showError('calls-error', e.message);
    return;
  }
  runs = more ? runs.concat(doc.runs || []) : doc.runs || [];
  nextCursor = doc.next_cursor || null;
  renderCalls();
  drawCharts();
}

function renderCalls() {
  const body = $('calls-table').tBodies[0];
  body.replaceChildren();
  for (const r of runs) {
    const row = el('tr', { class: 'call', tabindex: '0', 'data-call-id': r.call_id },
      el('td', {}, time(r.started_ms)), el('td', {}, r.worker), el('td', {}, r.trigger),
      el('td', {}, el('span', { class: 'badge ' + (r.status === 'ok' ? 'ok' : 'err') }, r.status)),
      el('td', {}, r.error_code || ''), el('td', { class: 'num latency' }, latency(r.duration_ms)),
      el('td', {}, short(r.call_id)));
    row.addEventListener('click', () => openCall(r.call_id));
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') openCall(r.call_id);
    });
    body.append(row);
  }
  $('calls-empty').hidden = runs.length > 0;
  $('calls-more').hidden = !nextCursor;
}

async function openCall(id) {
  $('call-detail').hidden = false;
  $('call-detail-id').textContent = id;
  const body = $('audit-records').tBodies[0];
  body.replaceChildren();
  showError('audit-records-error', '');
  $('call-logs').textContent = '';
  $('call-logs-error').hidden = true;
  const [records, logs] = await Promise.allSettled([
    api('/v1/audit' + q({ call_id: id })),
    api('/v1/runs/' + encodeURIComponent(id) + '/logs'),
  ]);
  if (records.status === 'fulfilled') {
    // Oldest first: the call's story in order.
    const list = (records.value.records || []).slice().sort((a, b) => a.seq - b.seq);
    for (const r of list) {
      body.append(el('tr', { class: 'record', 'data-kind': r.kind },
        el('td', {}, r.seq), el('td', {}, time(r.time_ms)), el('td', { class: 'kind' }, r.kind),
        el('td', {}, r.principal || ''), el('td', {}, r.status || ''), el('td', {}, r.error_code || ''),
        el('td', {}, el('pre', { class: 'body' },
                        r.body === null || r.body === undefined ? '' : JSON.stringify(r.body, null, 1)))));
    }
    if (!list.length) showError('audit-records-error', 'No audit records for this call.');
  } else {
    showError('audit-records-error', records.reason.message);
  }
  if (logs.status === 'fulfilled') {
    const l = logs.value;
    const lines = [];
    if (l.stderr) lines.push('stderr:', l.stderr);
    for (const e of l.events || []) lines.push(JSON.stringify(e));
    if (l.events_dropped) lines.push(`(${l.events_dropped} events dropped)`);
    $('call-logs').textContent = lines.length ? lines.join('\n') : '(no logs)';
  } else {
    // Logs are kept for the newest runs only: a 404 is expected for older ones.
    const p = $('call-logs-error');
    p.textContent = logs.reason.status === 404 ? 'Logs are no longer kept for this call.'
                                               : logs.reason.message;
    p.hidden = false;
  }
}

// ---- charts ----------------------------------------------------------------

const W = 480, H = 220, PAD = { l: 36, r: 8, t: 12, b: 34 };

// A bar chart of stacked ok/error counts into svg: bars [{label, ok, err}].
function barChart(node, bars, labelEvery) {
  node.replaceChildren();
  const max = Math.max(1, ...bars.map((b) => b.ok + b.err));
  const plotW = W - PAD.l - PAD.r, plotH = H - PAD.t - PAD.b;
  const step = plotW / bars.length, bw = Math.max(1, step * 0.8);
  const y = (n) => PAD.t + plotH - (n / max) * plotH;
  // Whole numbers of calls: every one up to 4, else the ends and the middle.
  const ticks = max <= 4 ? [...Array(max + 1).keys()] : [0, Math.round(max / 2), max];
  for (const tick of ticks) {
    node.append(svg('line', { class: 'grid', x1: PAD.l, x2: W - PAD.r, y1: y(tick), y2: y(tick) }));
    node.append(svg('text', { class: 'tick', x: PAD.l - 4, y: y(tick) + 4, 'text-anchor': 'end' }, tick));
  }
  bars.forEach((b, i) => {
    const x = PAD.l + i * step + (step - bw) / 2;
    const col = svg('g', { class: 'col' });
    col.append(svg('title', {}, `${b.label}: ${b.ok} ok, ${b.err} error`));
    if (b.ok) {
      col.append(svg('rect', { class: 'bar ok', x, y: y(b.ok), width: bw, height: y(0) - y(b.ok) }));
    }
    if (b.err) {
      const top = y(b.ok + b.err);
      col.append(svg('rect', { class: 'bar err', x, y: top, width: bw, height: y(b.ok) - top }));
    }
    node.append(col);
    // Labelled from the right: the newest bar always has its label.
    if ((bars.length - 1 - i) % labelEvery === 0) {
      node.append(svg('text', { class: 'tick', x: x + bw / 2, y: H - PAD.b + 14,
                                'text-anchor': 'middle' }, b.label));
    }
  });
  node.append(svg('line', { class: 'axis', x1: PAD.l, x2: W - PAD.r, y1: y(0), y2: y(0) }));
}

const BOUNDS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

function drawCharts() {
  const buckets = BOUNDS.map((b) => ({ label: '<' + (b >= 1000 ? b / 1000 + 's' : b), ok: 0, err: 0 }));
  buckets.push({ label: '≥5s', ok: 0, err: 0 });
  for (const r of runs) {
    let i = BOUNDS.findIndex((b) => r.duration_ms < b);
    if (i < 0) i = BOUNDS.length;
    buckets[i][r.status === 'ok' ? 'ok' : 'err']++;
  }
  barChart($('latency-chart'), buckets, 1);

  const minute = 60000;
  const now = Math.floor(Date.now() / minute) * minute;
  const perMinute = [];
  for (let i = 29; i >= 0; i--) {
    const at = now - i * minute;
    perMinute.push({ at, label: i ? '-' + i + 'm' : 'now', ok: 0, err: 0 });
  }
  for (const r of runs) {
    const i = 29 - Math.floor((now - Math.floor(r.started_ms / minute) * minute) / minute);
    if (i >= 0 && i < 30) perMinute[i][r.status === 'ok' ? 'ok' : 'err']++;
  }
  barChart($('rate-chart'), perMinute, 5);
}

// ---- schedules -------------------------------------------------------------

async function loadSchedules() {
  showError('schedules-error', '');
  const body = $('schedules-table').tBodies[0];
  body.replaceChildren();
  $('schedules-empty').hidden = true;
  let doc;
  try {
    doc = await api('/v1/schedules');
  } catch (e) {
    showError('schedules-error', e.status === 404 ? 'Schedules are unavailable on this gateway.'
                                                  : e.message);
    $('schedules-table').hidden = true;
    return;
  }
  $('schedules-table').hidden = false;
  const list = doc.schedules || [];
  $('schedules-empty').hidden = list.length > 0;
  const last = await Promise.all(list.map((s) =>
    api('/v1/runs' + q({ worker: s.worker, trigger: 'schedule', limit: String(LAST_RUNS) }))
      .then((d) => d.runs || [], (e) => e.message)));
  list.forEach((s, i) => {
    const cell = el('td', { class: 'last-runs' });
    if (typeof last[i] === 'string') cell.append(el('span', { class: 'error' }, last[i]));
    else if (!last[i].length) cell.append(el('span', { class: 'muted' }, 'none yet'));
    for (const r of typeof last[i] === 'string' ? [] : last[i]) {
      const chip = el('button', { type: 'button', class: 'chip ' + (r.status === 'ok' ? 'ok' : 'err'),
                                  title: `${r.status}${r.error_code ? ' ' + r.error_code : ''}, ` +
                                         latency(r.duration_ms),
                                  onclick: () => openCall(r.call_id) },
                      time(r.scheduled_ms ?? r.started_ms).slice(11));
      cell.append(chip);
    }
    body.append(el('tr', {}, el('td', {}, s.worker), el('td', {}, el('code', {}, s.schedule)),
                   el('td', {}, s.timezone || 'UTC'),
                   el('td', {}, s.next_run_at ? time(s.next_run_at) : s.state || '—'), cell));
  });
}

// ---- the audit chain -------------------------------------------------------

async function verify() {
  const p = $('verify-status');
  const button = $('verify');
  button.disabled = true;
  p.className = 'status';
  p.textContent = 'Checking…';
  try {
    const v = await api('/v1/audit/verify');
    const when = v.checked_at ? ` (checked ${time(v.checked_at)} UTC)` : '';
    if (v.ok) {
      p.className = 'status ok';
      p.textContent = `The chain verifies: ${v.records} records intact${when}.`;
    } else {
      p.className = 'status err';
      p.textContent = 'The chain does NOT verify' +
        (typeof v.records === 'number' ? ` (${v.records} records)` : '') + ': ' +
        (v.error ? `${v.error.code}: ${v.error.message}` : 'no reason given') + when;
    }
  } catch (e) {
    p.className = 'status';
    p.textContent = e.status === 404 ? 'Verification is unavailable on this gateway.' : e.message;
  } finally {
    button.disabled = false;
  }
}

// ---- wiring ----------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', () => signOut(''));
  $('workers-refresh').addEventListener('click', () => loadWorkers().catch(() => {}));
  $('run-form').addEventListener('submit', run);
  $('run-close').addEventListener('click', () => { $('run-form').hidden = true; });
  $('calls-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    loadCalls();
  });
  for (const id of ['filter-worker', 'filter-status', 'filter-trigger']) {
    $(id).addEventListener('change', () => loadCalls());
  }
  $('calls-more').addEventListener('click', () => loadCalls(true));
  $('call-close').addEventListener('click', () => { $('call-detail').hidden = true; });
  $('schedules-refresh').addEventListener('click', loadSchedules);
  $('verify').addEventListener('click', verify);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
});
