// Bundles the web UI: src/main.jsx -> app.js + app.css, and index.html naming
// them by content hash (piped serves them under /ui/assets/ for good).
//   node build.mjs --out DIR            what CMake runs (minified)
//   node build.mjs --watch [--port 5173] [--piped http://127.0.0.1:8080]
//     rebuilds on every change and serves the UI on PORT, passing every other
//     request (the API, the event stream) to a running piped.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const watch = args.includes('--watch');
const out = path.resolve(flag('--out', path.join(here, 'dist')));
mkdirSync(out, { recursive: true });

const options = {
  entryPoints: { app: path.join(here, 'src/main.jsx') },
  bundle: true,
  outdir: out,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !watch,
  sourcemap: watch ? 'inline' : false,
  legalComments: 'none',
  logLevel: 'warning',
};

const hash = (file) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);

function writePage() {
  const js = hash(path.join(out, 'app.js'));
  const css = hash(path.join(out, 'app.css'));
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>piped</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='4' cy='8' r='3' fill='%230a6ebd'/%3E%3Ccircle cx='12' cy='4' r='3' fill='%2317803d'/%3E%3Ccircle cx='12' cy='12' r='3' fill='%2317803d'/%3E%3C/svg%3E">
<link rel="stylesheet" href="/ui/assets/app.css?v=${css}">
</head><body><div id="app"></div>
<script src="/ui/assets/app.js?v=${js}"></script>
</body></html>
`;
  writeFileSync(path.join(out, 'index.html'), page);
  writeFileSync(path.join(out, 'ui_version.h'), `#define PIPE_UI_VERSION "${js}-${css}"\n`);
}

if (!watch) {
  await esbuild.build(options);
  writePage();
} else {
  const ctx = await esbuild.context({
    ...options,
    plugins: [{ name: 'page', setup(b) { b.onEnd((r) => { if (!r.errors.length) writePage(); }); } }],
  });
  await ctx.watch();
  const port = Number(flag('--port', '5173'));
  const piped = new URL(flag('--piped', 'http://127.0.0.1:8080'));
  http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/ui/assets/') || url.pathname === '/' || url.pathname.startsWith('/ui')) {
      const name = url.pathname.startsWith('/ui/assets/') ? url.pathname.slice('/ui/assets/'.length) : 'index.html';
      const type = { js: 'text/javascript', css: 'text/css', html: 'text/html' }[name.split('.').pop()];
      try {
        const body = readFileSync(path.join(out, path.basename(name)));
        res.writeHead(200, { 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'no-cache' });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
      return;
    }
    const upstream = http.request(
      { host: piped.hostname, port: piped.port, path: req.url, method: req.method, headers: req.headers },
      (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    upstream.on('error', (e) => { res.writeHead(502).end(`piped at ${piped.href}: ${e.message}`); });
    req.pipe(upstream);
  }).listen(port, '127.0.0.1', () => console.log(`UI on http://127.0.0.1:${port}/ (API from ${piped.href})`));
}
