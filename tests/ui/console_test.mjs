// The admin console in headless Chromium, against a running gateway:
//   node console_test.mjs BASE_URL ADMIN_TOKEN READER_TOKEN OUT_DIR CHROMIUM
// test_console.sh starts the gateway (the sample workers and a scheduled
// "ticker") and mints the tokens (READER_TOKEN has audit:read only). Prints one line per failed check and the
// tally; exits non-zero on any failure. Leaves OUT_DIR/console.png.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, token, reader, outDir, executablePath] = process.argv.slice(2);
if (!base || !token || !reader || !outDir || !executablePath) {
  console.error('usage: node console_test.mjs BASE_URL ADMIN_TOKEN READER_TOKEN OUT_DIR CHROMIUM');
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(what, ok, detail) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL: ${what}${detail === undefined ? '' : ` (got ${JSON.stringify(detail)})`}`);
  }
}

// A check that waits for fn to hold in the page (up to the default timeout).
async function waitCheck(page, what, fn) {
  try {
    await page.waitForFunction(fn);
    passed++;
  } catch (e) {
    check(what, false, e.message.split('\n')[0]);
  }
}

// A button run through the API itself, to give the charts data.
async function run(name, args) {
  const res = await fetch(`${base}/v1/workers/${name}/run`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(args),
  });
  return res.json();
}

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--headless=new'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  // A script or style the CSP refused, or any error of the page's own, is
  // reported on the console.
  const problems = [];
  page.on('console', (m) => {
    // The browser reports each refused fetch (the wrong tokens' 401s, the
    // reader's 403s, a 404 from an endpoint this gateway lacks); the page
    // shows those itself.
    if (m.type() === 'error' && !/status of 40[134]/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));

  await page.goto(`${base}/ui`);
  check('/ui lands on /ui/', page.url() === `${base}/ui/`, page.url());
  check('the sign-in form shows first', await page.isVisible('#sign-in-form'));

  // --- a wrong token --------------------------------------------------------
  await page.fill('#token', 'not-a-token');
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#sign-in-error:not([hidden])');
  const why = await page.textContent('#sign-in-error');
  check('a wrong token shows the API\'s message', why.length > 5 && !/^401/.test(why), why);
  check('and not the console', await page.isHidden('#console'));
  check('and forgets the token', await page.evaluate(() => sessionStorage.length) === 0);

  // --- sign in, the workers -------------------------------------------------
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#workers-table tr[data-worker="format_text"]');
  check('signed in: the form is gone', await page.isHidden('#sign-in'));
  check('the token is in sessionStorage only',
        await page.evaluate((t) => sessionStorage.getItem('toolgate.token') === t &&
                                   localStorage.length === 0 && document.cookie === '', token));
  const workers = await page.$$eval('#workers-table tbody tr[data-worker]',
                                    (rows) => rows.map((r) => r.dataset.worker));
  for (const name of ['date_time', 'format_text', 'test_simple_text', 'ticker']) {
    check(`the demo worker ${name} is listed`, workers.includes(name), workers);
  }
  const row = (name) => `#workers-table tr[data-worker="${name}"]`;
  check('with its version', (await page.textContent(`${row('format_text')} td.semver`)) === '1.0.0');
  const definition = await page.getAttribute(`${row('format_text')} td.definition code`, 'title');
  check('and its definition hash', /^[0-9a-f]{64}$/.test(definition || ''), definition);
  const fixtures = async (name) => page.textContent(`${row(name)} td:nth-child(5)`);
  check('a worker\'s fixtures status is shown', (await fixtures('ticker')) === '1 passed, 0 failed',
        await fixtures('ticker'));
  check('for the demo workers too', /^[1-9]\d* passed, 0 failed$/.test(await fixtures('format_text')),
        await fixtures('format_text'));
  check('and says when none ran', (await fixtures('date_time')) === 'not run');
  check('markup in a description stays text',
        await page.evaluate(() => !document.querySelector('img') && !window.pwned));

  await page.click(`${row('format_text')} button.link`);
  await page.waitForSelector('#versions-table tbody tr.current');
  check('a worker opens its versions',
        (await page.textContent('#versions-table tbody tr.current')).includes('1.0.0'));

  // --- a button run from the page -------------------------------------------
  await page.click(`${row('format_text')} button.run`);
  await page.fill('#run-args', '{"text": "  hello   world ", "case": "title"}');
  await page.click('#run-submit');
  await page.waitForSelector('#run-result:not([hidden])');
  const result = JSON.parse(await page.textContent('#run-result'));
  check('the run answers the worker\'s result', result.structuredContent?.text === 'Hello World',
        result);
  const callId = result.call_id;
  check('with its call id', /^[0-9a-f]{32}$/.test(callId || ''), callId);

  await page.fill('#run-args', '[1]');
  await page.click('#run-submit');
  await page.waitForSelector('#run-error:not([hidden])');
  check('arguments that are not an object are refused in the page',
        (await page.textContent('#run-error')).includes('object'));

  // --- the call in Calls, its audit records ---------------------------------
  const callRow = `#calls-table tr[data-call-id="${callId}"]`;
  await page.waitForSelector(callRow);
  const cells = await page.$$eval(`${callRow} td`, (tds) => tds.map((td) => td.textContent));
  check('the call is listed with its worker', cells[1] === 'format_text', cells);
  check('its trigger', cells[2] === 'button', cells);
  check('its status', cells[3] === 'ok', cells);
  check('and its latency', /^\d+(\.\d+)? (ms|s)$/.test(cells[5]), cells);
  await page.click(callRow);
  await page.waitForSelector('#audit-records tr.record[data-kind="call.end"]');
  const kinds = await page.$$eval('#audit-records tr.record', (rows) => rows.map((r) => r.dataset.kind));
  check('the call opens its audit records', kinds.includes('call.begin') && kinds.includes('call.end'),
        kinds);
  check('and only its own', (await page.textContent('#call-detail-id')) === callId);
  await page.waitForFunction(() => document.getElementById('call-logs').textContent !== '');

  // --- more calls: filters and charts ---------------------------------------
  for (let i = 0; i < 6; i++) await run('date_time', {});
  for (let i = 0; i < 3; i++) await run('format_text', { text: `call ${i}`, case: 'upper' });
  await run('format_text', { txt: 'x' }); // refused: a misspelt argument
  await run('test_error_handling', {});
  // The history records each run just after its answer.
  for (let tries = 0; tries < 50; tries++) {
    const res = await fetch(`${base}/v1/runs?trigger=button`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    if ((await res.json()).runs.length >= 12) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await page.selectOption('#filter-worker', 'date_time');
  await waitCheck(page, 'the worker filter shows only its calls', () => {
    const rows = [...document.querySelectorAll('#calls-table tr.call')];
    return rows.length >= 6 && rows.every((r) => r.children[1].textContent === 'date_time');
  });
  await page.selectOption('#filter-worker', '');
  await page.selectOption('#filter-status', 'ok');
  await waitCheck(page, 'the status filter shows only ok calls', () => {
    const rows = [...document.querySelectorAll('#calls-table tr.call')];
    return rows.length >= 10 && rows.every((r) => r.children[3].textContent === 'ok') &&
           !rows.some((r) => r.children[1].textContent === 'test_error_handling');
  });
  await page.selectOption('#filter-status', '');
  await page.selectOption('#filter-trigger', 'button');
  await waitCheck(page, 'the trigger filter shows only button runs', () => {
    const rows = [...document.querySelectorAll('#calls-table tr.call')];
    return rows.length >= 12 && rows.every((r) => r.children[2].textContent === 'button');
  });
  const statuses = await page.$$eval('#calls-table tr.call td:nth-child(4)',
                                     (tds) => new Set(tds.map((td) => td.textContent)).size);
  check('the button runs list ok and failed calls', statuses >= 2, statuses);

  const bars = (id) => page.$$eval(`#${id} rect.bar`, (rects) => rects.map((r) => {
    const box = r.getBoundingClientRect();
    return { h: box.height, w: box.width, fill: getComputedStyle(r).fill };
  }));
  const latency = await bars('latency-chart');
  check('the latency histogram has bars', latency.length >= 1, latency.length);
  check('that are drawn', latency.every((b) => b.h > 0 && b.w > 0 && b.fill !== 'none'), latency);
  check('with ok and failed calls apart', new Set(latency.map((b) => b.fill)).size === 2, latency);
  const rate = await bars('rate-chart');
  check('the calls-per-minute chart has bars', rate.length >= 1 && rate.every((b) => b.h > 0), rate);
  const counted = await page.$$eval('#rate-chart g.col title',
                                    (ts) => ts.reduce((n, t) => n + Number(/: (\d+) ok, (\d+)/.exec(t.textContent)
                                                                              .slice(1).reduce((a, b) => +a + +b, 0)), 0));
  const listed = await page.$$eval('#calls-table tr.call', (rows) => rows.length);
  check('counting every call listed', counted === listed, { counted, listed });
  // Pixels, not only elements: the chart's image holds its bar colour.
  const png = await page.locator('#latency-chart').screenshot();
  check('the chart renders to pixels', png.length > 1000, png.length);

  // --- schedules and the audit chain ----------------------------------------
  const schedules = await page.evaluate(async (t) =>
    (await fetch('/v1/schedules', { headers: { Authorization: `Bearer ${t}` } })).status, token);
  if (schedules === 404) {
    check('schedules say unavailable', (await page.textContent('#schedules-error')).includes('unavailable'));
  } else {
    await page.waitForFunction(() => {
      const chips = document.querySelectorAll('#schedules-table td.last-runs .chip');
      if (chips.length) return true;
      document.getElementById('schedules-refresh').click();
      return false;
    }, null, { polling: 1000, timeout: 15000 });
    const sched = await page.$$eval('#schedules-table tbody tr', (rows) =>
      rows.map((r) => [...r.children].map((td) => td.textContent)));
    check('the ticker\'s schedule is listed with its last runs',
          sched.some((r) => r[0] === 'ticker' && r[1] === '@every 5s'), sched);
  }
  await page.click('#verify');
  await page.waitForFunction(() => !document.getElementById('verify').disabled);
  const chain = await page.textContent('#verify-status');
  check('the chain\'s status is shown', /verifies|unavailable/.test(chain), chain);

  // --- the screenshot -------------------------------------------------------
  await page.selectOption('#filter-trigger', '');
  await page.waitForFunction(() => document.querySelectorAll('#calls-table tr.call').length >= 13);
  await page.click('#call-close');
  await page.click('#run-close');
  mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: join(outDir, 'console.png'), fullPage: true });

  // --- a token that stops working ends the session --------------------------
  await page.evaluate(() => sessionStorage.setItem('toolgate.token', 'expired'));
  await page.click('#workers-refresh');
  await page.waitForSelector('#sign-in:not([hidden])');
  check('a 401 returns to sign-in with the message',
        (await page.textContent('#sign-in-error')).length > 5);

  // --- a token without workers:deploy still reads the calls -----------------
  await page.fill('#token', reader);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#console:not([hidden])');
  await page.waitForSelector('#calls-table tr.call');
  check('a reader signs in and sees the calls', true);
  check('and the workers\' refusal', /scope|workers:deploy/.test(await page.textContent('#workers-error')),
        await page.textContent('#workers-error'));
  await page.click('#sign-out');
  check('signing out clears the token', await page.evaluate(() => sessionStorage.length) === 0);
  check('and shows the form', await page.isVisible('#sign-in-form'));

  check('no CSP violation or page error', problems.length === 0, problems);
} catch (e) {
  failed++;
  console.error(`FAIL: ${e.stack || e}`);
} finally {
  await browser.close();
}
console.log(`console: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
