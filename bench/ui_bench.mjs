// The browser half of bench/ui.sh: loads the grid and the graph pages of a
// running piped in headless Chromium (Debian's /usr/bin/chromium, through
// tests/ui's playwright-core) REPEATS times each, every time in a new page of
// a new browser context (empty cache), then REPEATS times in new pages of one
// context (app.js cached), and prints median and max of the time from
// navigation start to the end of the frame that drew the grid or the graph
// (the page's own clock), next to when Playwright's wait saw it, with where
// the time goes.
//   node bench/ui_bench.mjs SERVER [REPEATS]
// Exits 1 when a page does not render.
import { chromium } from '../tests/ui/node_modules/playwright-core/index.mjs';

const server = process.argv[2];
const repeats = Number(process.argv[3] || 5);
if (!server) {
  console.error('usage: node bench/ui_bench.mjs SERVER [REPEATS]');
  process.exit(2);
}

// Runs in the page before its own scripts, in the page's own clock (no round
// trip to this process): when `count` elements matching `selector` are first
// in the DOM; a task queued from the next animation frame (it runs after that
// frame's style, layout and paint, and after whatever was queued before it);
// and the long animation frames (over 50 ms: their scripts, and when their
// rendering started), from which the end of the frame that first drew the
// elements is read.
function observe([selector, count]) {
  const bench = (window.__bench = { dom: null, painted: null, frames: [] });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        bench.frames.push({ start: e.startTime, end: e.startTime + e.duration, render: e.renderStart,
          scripts: e.scripts.map((x) => ({ what: x.invokerType === 'classic-script' ? 'app.js' : x.invoker, ms: x.duration })) });
      }
    }).observe({ type: 'long-animation-frame', buffered: true });
  } catch { /* no long animation frame timing */ }
  const mo = new MutationObserver(() => {
    if (bench.dom !== null || document.querySelectorAll(selector).length < count) return;
    bench.dom = performance.now();
    mo.disconnect();
    requestAnimationFrame(() => setTimeout(() => { bench.painted = performance.now(); }, 0));
  });
  mo.observe(document, { childList: true, subtree: true });
}

const pages = [
  {
    name: 'grid 1000 tasks x 25 runs',
    path: '/ui/dags/grid1000/grid',
    until: ['.grid-body .grid-row', 1],
    async ready(page) {
      await page.waitForSelector('.grid-body .grid-row', { timeout: 30000 });
    },
    async check(page) {
      const rows = await page.locator('.grid-body[data-rows="1000"]').count();
      const heads = await page.locator('.grid-head .cell').count();
      const drawn = await page.locator('.grid-body .grid-row').count();
      if (rows !== 1 || heads !== 25) throw new Error(`grid: .grid-body[data-rows="1000"] x ${rows}, ${heads} run header cells (want 1 and 25)`);
      return `${drawn} rows drawn`;
    },
  },
  {
    name: 'graph 2000 tasks',
    path: '/ui/dags/graph2000/graph',
    // Laid out whole, drawn where the screen is (ui/src/pages/dag.jsx, Graph).
    until: ['svg.graph[data-nodes="2000"] g.node', 1],
    async ready(page) {
      await page.waitForSelector('svg.graph[data-nodes="2000"] g.node', { timeout: 30000 });
    },
    async check(page) {
      const edges = await page.locator('svg.graph').getAttribute('data-edges');
      const drawn = Number(await page.locator('svg.graph').getAttribute('data-drawn'));
      const nodes = await page.locator('svg.graph g.node').count();
      const paths = await page.locator('svg.graph path.edge').count();
      if (nodes !== drawn || nodes === 0) throw new Error(`graph: ${nodes} g.node for data-drawn ${drawn}`);
      // Scrolled to its far corner, the graph draws the tasks there instead.
      const first = await page.locator('svg.graph g.node').first().getAttribute('data-task');
      await page.evaluate(() => { const b = document.querySelector('.graph-wrap'); b.scrollTo(b.scrollWidth, b.scrollHeight); });
      await page.waitForFunction((t) => !document.querySelector(`svg.graph g.node[data-task="${t}"]`) &&
        document.querySelectorAll('svg.graph g.node').length > 0, first, { timeout: 5000 });
      return `${nodes} of 2000 tasks and ${paths} of ${edges} edges drawn in view`;
    },
  },
];

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const max = (v) => Math.max(...v);
const s = (ms) => (ms / 1000).toFixed(2);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
});
// One load of page `p` in a new page of `context`; throws when it does not render.
async function load(context, p) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.addInitScript(observe, p.until);
  try {
    await page.goto(server + p.path, { waitUntil: 'commit' });
    await p.ready(page);
    const drawn = await page.evaluate(() => performance.now());
    await page.waitForFunction(() => window.__bench.painted !== null, null, { timeout: 30000 });
    await page.waitForTimeout(300);  // the long frames that follow (effects, late API answers)
    const note = await p.check(page);
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource');
      const js = res.find((r) => r.name.includes('/ui/assets/app.js'));
      return {
        html: nav.responseEnd,
        js: js ? js.responseEnd : 0,
        dcl: nav.domContentLoadedEventEnd,
        api: res.filter((r) => r.name.includes('/api/v1/')).map((r) => ({
          path: new URL(r.name).pathname + new URL(r.name).search, start: r.startTime, end: r.responseEnd })),
        dom: window.__bench.dom,
        painted: window.__bench.painted,
        frames: window.__bench.frames,
      };
    });
    // The long frame in which the elements entered the DOM and were then
    // drawn; without one (a frame under 50 ms) the task after the next frame.
    const frame = t.frames.find((f) => f.start <= t.dom && f.render >= t.dom);
    return { drawn, note, ...t, frame, shown: frame ? frame.end : t.painted };
  } catch (e) {
    const text = await page.evaluate(() => (document.body ? document.body.innerText.slice(0, 300) : '')).catch(() => '');
    let msg = `did not render: ${e.message.split('\n')[0]}`;
    if (errors.length) msg += `\n  page errors: ${errors.slice(0, 5).join(' | ')}`;
    if (text) msg += `\n  page text: ${JSON.stringify(text)}`;
    throw new Error(msg);
  } finally {
    await page.close();
  }
}

const newContext = () => browser.newContext({ viewport: { width: 1280, height: 800 } });
let failed = false;
try {
  for (const p of pages) {
    // Cold: every load in a new browser context (nothing cached: app.js
    // fetched, parsed and compiled each time), after one load not counted
    // (Chromium's first page, piped's first reads).
    // Warm: new pages in one context, after one load not counted (app.js
    // from the HTTP cache; V8's code cache once it has seen the script).
    const cold = [], warm = [];
    try {
      for (let i = 0; i <= repeats; i++) {
        const context = await newContext();
        try { const x = await load(context, p); if (i > 0) cold.push(x); } finally { await context.close(); }
      }
      const context = await newContext();
      try {
        for (let i = 0; i <= repeats; i++) { const x = await load(context, p); if (i > 0) warm.push(x); }
      } finally { await context.close(); }
    } catch (e) {
      failed = true;
      console.log(`${p.name}: ${e.message}`);
      continue;
    }
    // The figure: navigation start to the end of the frame that drew the
    // elements, in the page's clock. Playwright's wait sees them later: it
    // asks the page 0, 20, 50, 100, 100 ms apart, then every 500 ms, and
    // answers over the protocol (printed next to it).
    const shown = cold.map((x) => x.shown), drawn = cold.map((x) => x.drawn);
    console.log(`${p.name}: median ${s(median(shown))} s, max ${s(max(shown))} s (target < 1 s; ${repeats} loads, each in a new browser context; ${cold[0].note})`);
    console.log(`  as Playwright's wait saw it (waitForSelector, then performance.now()): median ${s(median(drawn))} s, max ${s(max(drawn))} s`);
    const shownWarm = warm.map((x) => x.shown), drawnWarm = warm.map((x) => x.drawn);
    console.log(`  warm (new pages of one context, app.js cached): median ${s(median(shownWarm))} s, max ${s(max(shownWarm))} s (Playwright's wait: median ${s(median(drawnWarm))} s); DOMContentLoaded ${median(warm.map((x) => x.dcl)).toFixed(0)} ms`);
    // Where the time goes (cold loads): medians in ms from navigation start.
    const m = (f) => median(cold.map(f)).toFixed(0);
    const sum = (scripts) => scripts.reduce((a, x) => a + x.ms, 0);
    const appjs = (x) => sum(x.frames.flatMap((f) => f.scripts.filter((c) => c.what === 'app.js')));
    const paths = [...new Set(cold[0].api.map((a) => a.path))];
    const apis = paths.map((path) => {
      const of = (x) => x.api.filter((a) => a.path === path);
      const n = of(cold[0]).length;
      return `${path} ${m((x) => of(x)[0].start)}-${m((x) => of(x).at(-1).end)}${n > 1 ? ` (${n} calls)` : ''}`;
    });
    console.log(`  cold, ms: html ${m((x) => x.html)}, app.js loaded ${m((x) => x.js)} and run for ${m(appjs)}, DOMContentLoaded ${m((x) => x.dcl)}; API ${apis.join(', ')}`);
    const framed = cold.filter((x) => x.frame);
    if (framed.length) {
      const fm = (f) => median(framed.map(f)).toFixed(0);
      const what = [...new Set(framed[0].frame.scripts.map((c) => c.what))].join(', ');
      console.log(`  cold, ms: in the DOM ${m((x) => x.dom)}; the frame that drew it ${fm((x) => x.frame.start)}-${fm((x) => x.frame.end)}: scripts ${fm((x) => sum(x.frame.scripts))} (${what}), style, layout and paint ${fm((x) => x.frame.end - x.frame.render)}`);
    } else {
      console.log(`  cold, ms: in the DOM ${m((x) => x.dom)}, the next frame done ${m((x) => x.painted)}`);
    }
    const later = (x) => x.frames.filter((f) => f.start >= x.shown);
    const laterWhat = [...new Set(later(cold[0]).flatMap((f) => f.scripts.map((c) => `${c.what} ${c.ms.toFixed(0)}`)))].join(', ');
    console.log(`  cold: after it, ${m((x) => later(x).length)} long frame(s) with ${m((x) => sum(later(x).flatMap((f) => f.scripts)))} ms of scripts${laterWhat ? ` (first load: ${laterWhat})` : ''}`);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
