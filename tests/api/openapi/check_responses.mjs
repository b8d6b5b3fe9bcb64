// Checks a live piped against docs/api/openapi.yaml: exercises every route of
// the spec, with its error cases, and for each response checks that its
// status is documented for the operation, that its content type is the
// documented one, and that its JSON body validates (ajv) against the
// documented schema. HEAD must answer like GET without a body; a method a
// path does not serve must be a 405 with the right Allow header.
//
//   node check_responses.mjs BASE_URL ADMIN_TOKEN VIEWER_TOKEN DAG_ID
//
// The daemon must run with a token file (ADMIN_TOKEN an operator or admin
// token, VIEWER_TOKEN a viewer one), and DAG_ID must have one successful run
// whose first task has started (tests/e2e/openapi_test.cc arranges that).
// The DAG is paused and unpaused, triggered, backfilled and cancelled on the
// way. OPENAPI_SPEC overrides the spec's path. Prints one line per check, then
// "N passed, N failed"; exits 1 on any failure, 2 on a usage error.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const [baseUrl, adminToken, viewerToken, dagId] = process.argv.slice(2);
if (!baseUrl || !adminToken || !viewerToken || !dagId) {
  console.error('usage: node check_responses.mjs BASE_URL ADMIN_TOKEN VIEWER_TOKEN DAG_ID');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const specPath = process.env.OPENAPI_SPEC || path.resolve(here, '../../../docs/api/openapi.yaml');
const base = new URL(baseUrl);

// The whole check may not hang a test run.
setTimeout(() => {
  console.log('FAIL the check did not finish within 240 s');
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, 240_000).unref();

let passed = 0;
let failed = 0;
function report(ok, line, problems = []) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${line}${problems.length ? ': ' + problems.join('; ') : ''}`);
}

// --- the spec -------------------------------------------------------------------

const spec = YAML.parse(fs.readFileSync(specPath, 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SCHEMA_BASE = 'openapi.json';

function pointer(ref) {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported: ${ref}`);
  let node = spec;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (node === undefined) throw new Error(`unresolved $ref ${ref}`);
  }
  return node;
}
// Follows $refs of OpenAPI objects (responses, parameters, headers).
function deref(obj) {
  while (obj && typeof obj === 'object' && typeof obj.$ref === 'string') obj = pointer(obj.$ref);
  return obj;
}
// An OpenAPI schema as JSON Schema for ajv: refs to components/schemas point
// into the schema registered as SCHEMA_BASE. `nullable` stays: ajv 8
// implements it (with `type`; an enum must list null itself).
function toJsonSchema(schema) {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string') {
      if (!value.startsWith('#/components/schemas/')) throw new Error(`unexpected schema $ref ${value}`);
      out.$ref = `${SCHEMA_BASE}#/definitions/${value.slice('#/components/schemas/'.length)}`;
    } else if (key === 'properties' || key === 'definitions') {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSchema(v)]));
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  return out;
}

// Strict: a misspelt keyword in the spec is an error, not a silent no-op.
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
addFormats(ajv);
ajv.addKeyword('example');
let specProblem = null;
try {
  ajv.addSchema({ $id: SCHEMA_BASE, definitions: toJsonSchema(spec.components?.schemas ?? {}) });
  // Compiled one by one: ajv compiles a definition only when it is referenced.
  for (const name of Object.keys(spec.components?.schemas ?? {})) ajv.compile({ $ref: `${SCHEMA_BASE}#/definitions/${name}` });
} catch (e) {
  specProblem = e.message;
}
report(!specProblem, 'spec: components/schemas compile with ajv (strict)', specProblem ? [specProblem] : []);
if (specProblem) finish();

const validators = new Map();
function validatorFor(key, schema) {
  if (!validators.has(key)) validators.set(key, ajv.compile(toJsonSchema(schema)));
  return validators.get(key);
}
const errorSchema = { $ref: '#/components/schemas/Error' };

// Path templates, most literal segments first.
const templates = Object.keys(spec.paths)
  .map((t) => {
    const segs = t.split('/');
    const names = [];
    const re = segs
      .map((s) => {
        const m = /^\{(.+)\}$/.exec(s);
        if (!m) return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(m[1]);
        return '([^/]+)';
      })
      .join('/');
    return { template: t, re: new RegExp(`^${re}$`), names, literal: segs.length - names.length };
  })
  .sort((a, b) => b.literal - a.literal);

function findPath(rawPath) {
  for (const t of templates) {
    const m = t.re.exec(rawPath);
    if (m) {
      const params = {};
      t.names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(m[i + 1]);
        } catch {
          params[n] = null;  // malformed percent-encoding
        }
      });
      return { template: t.template, item: spec.paths[t.template], params };
    }
  }
  return null;
}

function operations(item) {
  return METHODS.filter((m) => item[m]).map((m) => [m, item[m]]);
}

// The parameters of an operation (path item's and the operation's).
function parametersOf(item, op) {
  const byKey = new Map();
  for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref)) byKey.set(`${p.in}:${p.name}`, p);
  return [...byKey.values()];
}

// --- HTTP over a plain socket (HEAD bodies, Host headers and all) -----------------------

function parseResponse(raw, method) {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`incomplete response (${raw.length} bytes)`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!status) throw new Error(`bad status line '${lines[0]}'`);
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  let body = raw.subarray(end + 4);
  let trailing = 0;
  if (method !== 'HEAD' && headers['transfer-encoding']?.[0]?.toLowerCase() === 'chunked') {
    const parts = [];
    let rest = body;
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 4 + size);
    }
    body = Buffer.concat(parts);
  } else if (method !== 'HEAD' && headers['content-length']) {
    const length = Number(headers['content-length'][0]);
    trailing = body.length - length;
    body = body.subarray(0, length);
  }
  return { status: Number(status[1]), headers, body: body.toString('utf8'), bodyBytes: body.length, trailing };
}

// `streamed`: the answer does not end by itself (an event stream): it is
// taken once its headers and first bytes are there.
function request(method, target, { token, body, host = true, extraHeaders = [], streamed = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: base.hostname, port: Number(base.port) });
    const chunks = [];
    let settled = false;
    const done = (err) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      const raw = Buffer.concat(chunks);
      if (raw.length === 0) return reject(err ?? new Error('connection closed without a response'));
      try {
        resolve(parseResponse(raw, method));
      } catch (e) {
        reject(e);
      }
    };
    sock.setTimeout(30_000, () => done(new Error('timed out')));
    sock.on('data', (c) => {
      chunks.push(c);
      if (streamed && /\r\n\r\n[^]/.test(Buffer.concat(chunks).toString('latin1'))) done();
    });
    sock.on('end', () => done());
    sock.on('close', () => done());
    sock.on('error', (e) => done(e));  // e.g. EPIPE after a 413: the response may be there
    const head = [`${method} ${target} HTTP/1.1`];
    if (host) head.push(`Host: ${base.host}`);
    head.push(...extraHeaders);
    if (token) head.push(`Authorization: Bearer ${token}`);
    const payload = body === undefined ? null : Buffer.from(body);
    if (payload) head.push('Content-Type: application/json', `Content-Length: ${payload.length}`);
    head.push('Connection: close');
    sock.write(head.join('\r\n') + '\r\n\r\n');
    if (payload) sock.write(payload);
  });
}

// --- checks ---------------------------------------------------------------------

const covered = new Set();  // "METHOD template" that answered a non-HEAD request with a 2xx
const seenStatuses = new Map();  // "METHOD template" -> statuses seen

function describe(errors) {
  const list = (errors ?? []).map((e) => {
    const extra = e.params?.additionalProperty ?? e.params?.missingProperty ?? e.params?.allowedValues;
    return `${e.instancePath || '/'} ${e.message}${extra !== undefined ? ` (${JSON.stringify(extra)})` : ''}`;
  });
  return list.slice(0, 5).join(' | ') + (list.length > 5 ? ` | and ${list.length - 5} more` : '');
}

function mediaType(res) {
  return (res.headers['content-type']?.[0] ?? '').split(';')[0].trim().toLowerCase();
}

// One request, checked against the spec. `expect`: the status the case must
// get. Returns the response (json parsed when it is JSON).
async function check(label, method, target, opts = {}) {
  const { expect, token, body, host, extraHeaders, paramsInvalid, streamed } = opts;
  const line = `${label}: ${method} ${target.length > 90 ? target.slice(0, 90) + '...' : target}`;
  let res;
  try {
    res = await request(method, target, { token, body, host, extraHeaders, streamed });
  } catch (e) {
    report(false, line, [`request failed: ${e.message}`]);
    return null;
  }
  const problems = [];
  // An absolute-form target ("http://HOST/path") is looked up by its path.
  const [rawPath, query = ''] = (/^https?:\/\/[^/]*/i.test(target) ? target.replace(/^https?:\/\/[^/]*/i, '') : target).split('?');
  if (expect !== undefined && res.status !== expect) {
    problems.push(`status ${res.status}, expected ${expect} (body ${JSON.stringify(res.body.slice(0, 200))})`);
  }
  if (res.trailing > 0) problems.push(`${res.trailing} bytes after the body`);
  const found = findPath(rawPath);
  let response = null;
  let schemaKey = null;
  let opName = 'no route in the spec';
  if (!found) {
    // An unknown path: a plain 404 error.
    if (res.status !== 404) problems.push(`unknown path answered ${res.status}, expected 404`);
    response = { content: { 'application/json': { schema: errorSchema } } };
    schemaKey = 'Error';
  } else {
    const m = method.toLowerCase();
    let op = found.item[m];
    const asGet = !op && m === 'head' && found.item.get;
    if (asGet) op = found.item.get;
    if (!op) {
      // A method the path does not serve: 405, documented, with Allow.
      opName = `${method} ${found.template} (not served)`;
      if (res.status !== 405) problems.push(`status ${res.status} for a method the path does not serve, expected 405`);
      const ops = operations(found.item);
      const r405 = ops.map(([, o]) => o.responses?.['405']).find(Boolean);
      if (!r405) problems.push(`${found.template} documents no 405`);
      if (res.status === 405) {
        for (const [mm] of ops) {
          const key = `${mm.toUpperCase()} ${found.template}`;
          if (!seenStatuses.has(key)) seenStatuses.set(key, new Set());
          seenStatuses.get(key).add(405);
        }
        response = deref(r405) ?? null;
        schemaKey = `405 ${found.template}`;
        const allow = (res.headers.allow ?? []).join(',').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
        const want = ops.map(([mm]) => mm.toUpperCase());
        if (want.includes('GET')) want.push('HEAD');
        if (!res.headers.allow) problems.push('no Allow header');
        else if ([...new Set(allow)].sort().join(',') !== [...new Set(want)].sort().join(',')) {
          problems.push(`Allow '${res.headers.allow.join(', ')}', expected the methods ${want.sort().join(', ')}`);
        }
      }
    } else {
      const key = `${asGet ? 'GET' : method} ${found.template}`;
      opName = op.operationId ?? key;
      if (!asGet && res.status < 300) covered.add(key);
      if (!seenStatuses.has(key)) seenStatuses.set(key, new Set());
      seenStatuses.get(key).add(res.status);
      response = deref(op.responses?.[String(res.status)] ?? op.responses?.default);
      if (!response) {
        problems.push(`status ${res.status} is not documented for ${opName} (documented: ${Object.keys(op.responses ?? {}).join(', ')})`);
      }
      schemaKey = `${key} ${res.status}`;
      // The path and query values against the spec's parameter schemas: a
      // success means the server took them, so the spec must too.
      const values = [];
      for (const p of parametersOf(found.item, op)) {
        if (p.in === 'path') values.push([p, found.params[p.name]]);
        if (p.in === 'query') {
          const q = new URLSearchParams(query);
          if (q.has(p.name) && q.get(p.name) !== '') values.push([p, q.get(p.name)]);
        }
      }
      let rejected = [];
      for (const [p, raw] of values) {
        const schema = deref(p.schema);
        let value = raw;
        if (deref(schema)?.type === 'integer' && /^-?\d+$/.test(raw ?? '')) value = Number(raw);
        const v = validatorFor(`param ${found.template} ${p.in} ${p.name}`, schema);
        if (raw === null || !v(value)) rejected.push(`${p.name}=${JSON.stringify(raw)}`);
      }
      if (res.status < 300 && rejected.length) problems.push(`the server took parameters the spec refuses: ${rejected.join(', ')}`);
      if (paramsInvalid && !rejected.length) problems.push('the spec\'s parameter schemas accept what the server refused');
      // A request body the server took must fit the documented one.
      if (res.status < 300 && body !== undefined && body !== '') {
        const rb = deref(op.requestBody);
        const schema = rb?.content?.['application/json']?.schema;
        if (!schema) problems.push('the server took a body the spec does not document');
        else {
          const v = validatorFor(`request ${key}`, schema);
          if (!v(JSON.parse(body))) problems.push(`request body does not fit the spec: ${describe(v.errors)}`);
        }
      }
    }
  }
  let json;
  if (response) {
    for (const [name, h] of Object.entries(response.headers ?? {})) {
      if (deref(h).required && !res.headers[name.toLowerCase()]) problems.push(`no ${name} header`);
    }
    const content = response.content ?? {};
    const type = mediaType(res);
    if (Object.keys(content).length === 0) {
      if (method !== 'HEAD' && res.bodyBytes > 0) problems.push('a body where the spec documents none');
    } else if (!content[type]) {
      problems.push(`content type '${res.headers['content-type']?.[0] ?? ''}', documented: ${Object.keys(content).join(', ')}`);
    } else if (method === 'HEAD') {
      if (res.body.length > 0) problems.push(`HEAD answered with a ${res.body.length}-byte body`);
    } else if (type === 'application/json') {
      try {
        json = JSON.parse(res.body);
      } catch {
        problems.push(`body is not JSON: ${JSON.stringify(res.body.slice(0, 200))}`);
      }
      const schema = content[type].schema;
      if (json !== undefined && schema) {
        const v = validatorFor(`response ${schemaKey} ${type}`, schema);
        if (!v(json)) {
          problems.push(`body does not fit the schema: ${describe(v.errors)} (body ${JSON.stringify(json).slice(0, 300)})`);
        }
      } else if (json !== undefined) problems.push('a JSON body the spec gives no schema for');
    }
  }
  if (method === 'HEAD' && res.body.length > 0 && !problems.some((p) => p.startsWith('HEAD answered'))) {
    problems.push(`HEAD answered with a ${res.body.length}-byte body`);
  }
  report(problems.length === 0, `${line} -> ${res.status} [${opName}]`, problems);
  return { ...res, json };
}

// GET then HEAD: same status and headers, no body.
async function checkHead(label, target, { token, stableLength = false } = {}) {
  const get = await request('GET', target, { token }).catch(() => null);
  const head = await check(`${label} (HEAD)`, 'HEAD', target, { token, expect: get?.status });
  if (!get || !head) return;
  const problems = [];
  if (mediaType(get) !== mediaType(head)) problems.push(`content type '${head.headers['content-type']}' vs GET's '${get.headers['content-type']}'`);
  const length = head.headers['content-length']?.[0];
  if (length === undefined) problems.push('no Content-Length');
  else if (stableLength && Number(length) !== get.bodyBytes) problems.push(`Content-Length ${length}, GET's body has ${get.bodyBytes} bytes`);
  report(problems.length === 0, `${label} (HEAD like GET): HEAD ${target} -> ${head.status}`, problems);
}

// --- helpers for the stateful part ---------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function getJson(target, token = viewerToken) {
  const res = await request('GET', target, { token });
  if (res.status !== 200) throw new Error(`GET ${target} -> ${res.status} ${res.body}`);
  return JSON.parse(res.body);
}

async function waitFor(what, predicate, seconds = 60) {
  for (let i = 0; i < seconds * 5; i++) {
    if (await predicate()) return true;
    await sleep(200);
  }
  report(false, `waiting for ${what}`, [`not within ${seconds} s`]);
  return false;
}

const terminal = new Set(['success', 'failed', 'cancelled']);
const runEnded = async (id) => terminal.has((await getJson(`/api/v1/runs/${id}`)).state);
async function dagIdle() {
  for (const state of ['queued', 'running']) {
    if ((await getJson(`/api/v1/runs?dag_id=${dagId}&state=${state}&limit=1`)).total > 0) return false;
  }
  return true;
}

function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// --- the spec's own shape ------------------------------------------------------------

function lintSpec() {
  const ids = new Map();
  for (const [template, item] of Object.entries(spec.paths)) {
    const declared = new Set((item.parameters ?? []).map(deref).filter((p) => p.in === 'path').map((p) => p.name));
    for (const [m, op] of operations(item)) {
      const name = `${m.toUpperCase()} ${template}`;
      const problems = [];
      if (!op.operationId) problems.push('no operationId');
      else if (ids.has(op.operationId)) problems.push(`operationId ${op.operationId} also on ${ids.get(op.operationId)}`);
      else ids.set(op.operationId, name);
      const params = new Set([...declared, ...(op.parameters ?? []).map(deref).filter((p) => p.in === 'path').map((p) => p.name)]);
      for (const [, p] of template.matchAll(/\{([^}]+)\}/g)) {
        if (!params.has(p)) problems.push(`path parameter {${p}} is not declared`);
      }
      const responses = op.responses ?? {};
      for (const status of ['400', '405', '413']) {
        if (!responses[status]) problems.push(`no ${status} (every route can get one)`);
      }
      const secured = !(Array.isArray(op.security) && op.security.length === 0);
      if (secured && !responses['401']) problems.push('secured but documents no 401');
      // x-pipe-role: viewer marks a POST that changes nothing (the predict routes).
      if (secured && m !== 'get' && op['x-pipe-role'] !== 'viewer' && !responses['403']) {
        problems.push('changes state but documents no 403');
      }
      for (const [status, r] of Object.entries(responses)) {
        const resp = deref(r);
        if (!resp?.description) problems.push(`response ${status} has no description`);
        for (const [type, media] of Object.entries(resp?.content ?? {})) {
          if (type === 'application/json') {
            try {
              validatorFor(`response ${name} ${status} ${type}`, media.schema ?? {});
            } catch (e) {
              problems.push(`response ${status}: ${e.message}`);
            }
          }
        }
      }
      const body = deref(op.requestBody)?.content?.['application/json']?.schema;
      if (body) {
        try {
          validatorFor(`request ${name}`, body);
        } catch (e) {
          problems.push(`request body: ${e.message}`);
        }
      }
      report(problems.length === 0, `spec: ${name} (${op.operationId ?? '?'}) is documented completely`, problems);
    }
  }
}

// --- the cases -----------------------------------------------------------------------

async function main() {
  lintSpec();
  const A = adminToken;
  const V = viewerToken;
  const d = dagId;
  const big = JSON.stringify({ params: { pad: 'x'.repeat(2 << 20) } });  // 2 MiB

  // Open routes.
  await check('the UI', 'GET', '/', { expect: 200 });
  await checkHead('the UI', '/', { stableLength: true });
  await check('metrics', 'GET', '/metrics', { expect: 200 });
  await checkHead('metrics', '/metrics');
  await check('health, no token', 'GET', '/api/v1/health', { expect: 200 });
  await checkHead('health', '/api/v1/health');
  await check('health, a body over 1 MiB', 'GET', '/api/v1/health', { body: big, expect: 413 });
  await check('no Host header', 'GET', '/api/v1/health', { host: false, expect: 400 });
  await check('an absolute-form target naming this server', 'GET', `http://${base.host}/api/v1/health`, { expect: 200 });
  await check('an absolute-form target naming another server', 'GET', 'http://example.com/api/v1/health', { expect: 400 });
  await check('two Host headers', 'GET', '/api/v1/health', { extraHeaders: [`Host: ${base.host}`], expect: 400 });

  // Tokens and roles.
  await check('no token', 'GET', '/api/v1/dags', { expect: 401 });
  await check('an unknown token', 'GET', '/api/v1/dags', { token: 'not-a-token', expect: 401 });
  await check('HEAD without a token', 'HEAD', '/api/v1/dags', { expect: 401 });

  // DAGs.
  const dags = await check('DAGs', 'GET', '/api/v1/dags', { token: V, expect: 200 });
  if (dags?.json && !dags.json.dags.some((x) => x.dag_id === d)) report(false, `DAG ${d} is listed`);
  await checkHead('DAGs', '/api/v1/dags', { token: V });
  const dag = await check('a DAG', 'GET', `/api/v1/dags/${d}`, { token: V, expect: 200 });
  await checkHead('a DAG', `/api/v1/dags/${d}`, { token: V, stableLength: true });
  await checkHead('an unknown DAG', '/api/v1/dags/nope', { token: V });
  await check('a DAG, no token', 'GET', `/api/v1/dags/${d}`, { expect: 401 });
  await check('an unknown DAG', 'GET', '/api/v1/dags/nope', { token: V, expect: 404 });
  await check('a bad DAG id', 'GET', '/api/v1/dags/Bad_Id', { token: V, expect: 400, paramsInvalid: true });
  // Decoded before routing, an encoded slash makes a path no route has.
  await check('a DAG id with ..%2f', 'GET', '/api/v1/dags/..%2f..%2fetc', { token: V, expect: 404, paramsInvalid: true });
  await check('malformed percent-encoding', 'GET', '/api/v1/dags/%zz', { token: V, expect: 400, paramsInvalid: true });
  await check('pause as a viewer', 'PATCH', `/api/v1/dags/${d}`, { token: V, body: '{"paused": false}', expect: 403 });
  await check('pause, no token', 'PATCH', `/api/v1/dags/${d}`, { body: '{"paused": false}', expect: 401 });
  await check('pause, no body', 'PATCH', `/api/v1/dags/${d}`, { token: A, expect: 400 });
  await check('pause, body not JSON', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: '{not json', expect: 400 });
  await check('pause, body not an object', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: '[true]', expect: 400 });
  await check('pause, no "paused"', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: '{}', expect: 400 });
  await check('pause, "paused" not a boolean', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: '{"paused": "yes"}', expect: 400 });
  await check('pause, a body over 1 MiB', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: big, expect: 413 });
  await check('pause an unknown DAG', 'PATCH', '/api/v1/dags/nope', { token: A, body: '{"paused": false}', expect: 404 });
  await check('pause, a bad DAG id', 'PATCH', '/api/v1/dags/Nope', { token: A, body: '{"paused": false}', expect: 400, paramsInvalid: true });
  await check('unpause', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: '{"paused": false}', expect: 200 });

  // Runs of a DAG.
  const page = await check('runs of a DAG', 'GET', `/api/v1/dags/${d}/runs`, { token: V, expect: 200 });
  await checkHead('runs of a DAG', `/api/v1/dags/${d}/runs`, { token: V });
  const done = await check('successful runs of a DAG', 'GET', `/api/v1/dags/${d}/runs?state=success&limit=1&offset=0`, { token: V, expect: 200 });
  await check('runs, bad state', 'GET', `/api/v1/dags/${d}/runs?state=bogus`, { token: V, expect: 400, paramsInvalid: true });
  await check('runs, limit=0', 'GET', `/api/v1/dags/${d}/runs?limit=0`, { token: V, expect: 400, paramsInvalid: true });
  await check('runs, limit=1001', 'GET', `/api/v1/dags/${d}/runs?limit=1001`, { token: V, expect: 400, paramsInvalid: true });
  await check('runs, limit=abc', 'GET', `/api/v1/dags/${d}/runs?limit=abc`, { token: V, expect: 400, paramsInvalid: true });
  await check('runs, offset=-1', 'GET', `/api/v1/dags/${d}/runs?offset=-1`, { token: V, expect: 400, paramsInvalid: true });
  await check('runs of an unknown DAG', 'GET', '/api/v1/dags/nope/runs', { token: V, expect: 404 });
  await check('runs of a DAG, no token', 'GET', `/api/v1/dags/${d}/runs`, { expect: 401 });
  await check('runs, a bad DAG id', 'GET', '/api/v1/dags/Bad/runs', { token: V, expect: 400, paramsInvalid: true });
  const run = done?.json?.runs?.[0];
  if (!page?.json || !run) {
    report(false, `DAG ${d} has a successful run`, ['nothing to check runs, clears and logs with']);
    finish();
  }
  const r = run.run_id;

  // Trigger: the error cases (runs that are created come later, paused).
  await check('trigger as a viewer', 'POST', `/api/v1/dags/${d}/runs`, { token: V, body: '{}', expect: 403 });
  await check('trigger, no token', 'POST', `/api/v1/dags/${d}/runs`, { body: '{}', expect: 401 });
  await check('trigger, body not JSON', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: '{not json', expect: 400 });
  await check('trigger, body not an object', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: '[1]', expect: 400 });
  await check('trigger, params not an object', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: '{"params": 5}', expect: 400 });
  await check('trigger, an unknown parameter', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: '{"params": {"no_such_param": 1}}', expect: 400 });
  await check('trigger, an object parameter', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: '{"params": {"x": {"a": 1}}}', expect: 400 });
  await check('trigger, "queue" not a boolean', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: '{"queue": "no"}', expect: 400 });
  await check('trigger, a body over 1 MiB', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: big, expect: 413 });
  await check('trigger an unknown DAG', 'POST', '/api/v1/dags/nope/runs', { token: A, body: '{}', expect: 404 });
  await check('trigger, a bad DAG id', 'POST', '/api/v1/dags/Bad/runs', { token: A, body: '{}', expect: 400, paramsInvalid: true });

  // Backfill: the error cases.
  const scheduled = dag?.json?.schedule != null;
  await check('backfill as a viewer', 'POST', `/api/v1/dags/${d}/backfill`, { token: V, body: '{"from": "2020-01-01", "to": "2020-01-02"}', expect: 403 });
  await check('backfill, no token', 'POST', `/api/v1/dags/${d}/backfill`, { body: '{"from": "2020-01-01", "to": "2020-01-02"}', expect: 401 });
  await check('backfill, a body over 1 MiB', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, body: big, expect: 413 });
  await check('backfill, no body', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, expect: 400 });
  await check('backfill, body not JSON', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, body: 'from=x', expect: 400 });
  await check('backfill, no "to"', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, body: '{"from": "2020-01-01"}', expect: 400 });
  await check('backfill, a bad date', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, body: '{"from": "yesterday", "to": "2020-01-02"}', expect: 400 });
  await check('backfill, from after to', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, body: '{"from": "2020-01-03", "to": "2020-01-01"}', expect: 400 });
  await check('backfill an unknown DAG', 'POST', '/api/v1/dags/nope/backfill', { token: A, body: '{"from": "2020-01-01", "to": "2020-01-02"}', expect: 404 });
  await check('backfill, a bad DAG id', 'POST', '/api/v1/dags/Bad/backfill', { token: A, body: '{"from": "2020-01-01", "to": "2020-01-02"}', expect: 400, paramsInvalid: true });

  // Runs of every DAG.
  await check('runs', 'GET', '/api/v1/runs', { token: V, expect: 200 });
  await checkHead('runs', '/api/v1/runs', { token: V });
  await check('runs, filtered', 'GET', `/api/v1/runs?dag_id=${d}&state=success&limit=5&offset=0`, { token: V, expect: 200 });
  await check('runs of an unknown DAG (an empty page)', 'GET', '/api/v1/runs?dag_id=nope', { token: V, expect: 200 });
  await check('runs, a bad dag_id', 'GET', '/api/v1/runs?dag_id=Bad', { token: V, expect: 400, paramsInvalid: true });
  await check('runs, bad state', 'GET', '/api/v1/runs?state=done', { token: V, expect: 400, paramsInvalid: true });
  await check('runs, limit=0', 'GET', '/api/v1/runs?limit=0', { token: V, expect: 400, paramsInvalid: true });
  await check('runs, no token', 'GET', '/api/v1/runs', { expect: 401 });

  // A run.
  const shown = await check('a run', 'GET', `/api/v1/runs/${r}`, { token: V, expect: 200 });
  await checkHead('a run', `/api/v1/runs/${r}`, { token: V, stableLength: true });
  await check('an unknown run', 'GET', '/api/v1/runs/no-such-run', { token: V, expect: 404 });
  await check('run id ..', 'GET', '/api/v1/runs/%2e%2e', { token: V, expect: 400, paramsInvalid: true });
  await check('run id with a NUL', 'GET', '/api/v1/runs/a%00b', { token: V, expect: 400, paramsInvalid: true });
  await check('run id with a space', 'GET', '/api/v1/runs/a%20b', { token: V, expect: 400, paramsInvalid: true });
  await check('a run, no token', 'GET', `/api/v1/runs/${r}`, { expect: 401 });
  const tasks = shown?.json?.tasks ?? [];
  const t = tasks.find((x) => x.tries.length > 0)?.task_id;
  if (!t) {
    report(false, `run ${r} has a task that ran`, ['nothing to check logs and clears with']);
    finish();
  }
  if (!tasks.some((x) => x.artifacts.length > 0)) console.log(`note: run ${r} has no artifacts: their schema was not exercised`);

  // Logs.
  await check('a log', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs`, { token: V, expect: 200 });
  await checkHead('a log', `/api/v1/runs/${r}/tasks/${t}/logs`, { token: V, stableLength: true });
  await check('a log, try=1', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs?try=1`, { token: V, expect: 200 });
  await check('a log, try=0', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs?try=0`, { token: V, expect: 400, paramsInvalid: true });
  await check('a log, try=x', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs?try=x`, { token: V, expect: 400, paramsInvalid: true });
  await check('a log, a try that never was', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs?try=99`, { token: V, expect: 404 });
  await check('a log of an unknown task', 'GET', `/api/v1/runs/${r}/tasks/no_such_task/logs`, { token: V, expect: 404 });
  await check('a log, a bad task id', 'GET', `/api/v1/runs/${r}/tasks/Bad/logs`, { token: V, expect: 400, paramsInvalid: true });
  await check('a log, a task id with ..%2F', 'GET', `/api/v1/runs/${r}/tasks/..%2F..%2Fpasswd/logs`, { token: V, expect: 404, paramsInvalid: true });
  await check('a log of an unknown run', 'GET', `/api/v1/runs/no-such-run/tasks/${t}/logs`, { token: V, expect: 404 });
  await check('a log, no token', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs`, { expect: 401 });
  await check('a log from offset 1', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs?offset=1`, { token: V, expect: 200 });
  await check('a log from past its end', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs?offset=100000000`, { token: V, expect: 200 });
  await check('a log, offset=-1', 'GET', `/api/v1/runs/${r}/tasks/${t}/logs?offset=-1`, { token: V, expect: 400, paramsInvalid: true });

  // Who the caller is, and a task's history.
  await check('auth as a viewer', 'GET', '/api/v1/auth', { token: V, expect: 200 });
  await checkHead('auth', '/api/v1/auth', { token: V, stableLength: true });
  await check('auth, no token', 'GET', '/api/v1/auth', { expect: 401 });
  await check('a task\'s history', 'GET', `/api/v1/dags/${d}/tasks/${t}/history?limit=5`, { token: V, expect: 200 });
  await check('a task\'s history, limit=0', 'GET', `/api/v1/dags/${d}/tasks/${t}/history?limit=0`, { token: V, expect: 400, paramsInvalid: true });
  await check('the history of an unknown DAG', 'GET', `/api/v1/dags/no_such_dag/tasks/${t}/history`, { token: V, expect: 404 });
  await check('a task\'s history, a bad task id', 'GET', `/api/v1/dags/${d}/tasks/Bad/history`, { token: V, expect: 400, paramsInvalid: true });
  await check('a task\'s history, no token', 'GET', `/api/v1/dags/${d}/tasks/${t}/history`, { expect: 401 });

  // The event stream (it stays open: its first bytes are checked).
  const events = await check('the event stream', 'GET', `/api/v1/events?dag_id=${d}`, { token: V, expect: 200, streamed: true });
  if (events && !events.body.startsWith('retry: 2000')) report(false, 'the event stream starts with retry', [events.body.slice(0, 100)]);
  await check('the event stream from event 0', 'GET', '/api/v1/events?after=0', { token: V, expect: 200, streamed: true });
  await check('the event stream, after=x', 'GET', '/api/v1/events?after=x', { token: V, expect: 400, paramsInvalid: true });
  await check('the event stream, after=-1', 'GET', '/api/v1/events?after=-1', { token: V, expect: 400, paramsInvalid: true });
  await check('the event stream, a bad DAG id', 'GET', '/api/v1/events?dag_id=Bad', { token: V, expect: 400, paramsInvalid: true });
  await check('the event stream, no token', 'GET', '/api/v1/events', { expect: 401 });

  // The DAG's versions and a version's source.
  const versions = await check('DAG versions', 'GET', `/api/v1/dags/${d}/versions`, { token: V, expect: 200 });
  await checkHead('DAG versions', `/api/v1/dags/${d}/versions`, { token: V, stableLength: true });
  await check('DAG versions of an unknown DAG', 'GET', '/api/v1/dags/no_such_dag/versions', { token: V, expect: 404 });
  await check('DAG versions, no token', 'GET', `/api/v1/dags/${d}/versions`, { expect: 401 });
  const newest = versions?.json?.versions?.[0]?.version ?? 1;
  const version = await check('a DAG version', 'GET', `/api/v1/dags/${d}/versions/${newest}`, { token: V, expect: 200 });
  if (version?.json && !version.json.source.includes(`dag: ${d}`)) report(false, 'a DAG version has its source', [version.json.source.slice(0, 200)]);
  await checkHead('a DAG version', `/api/v1/dags/${d}/versions/${newest}`, { token: V, stableLength: true });
  await check('a DAG version that never was', 'GET', `/api/v1/dags/${d}/versions/999`, { token: V, expect: 404 });
  await check('a DAG version 0', 'GET', `/api/v1/dags/${d}/versions/0`, { token: V, expect: 400, paramsInvalid: true });
  await check('a DAG version x', 'GET', `/api/v1/dags/${d}/versions/x`, { token: V, expect: 400, paramsInvalid: true });

  // The grid of the DAG's runs.
  const grid = await check('the grid', 'GET', `/api/v1/dags/${d}/grid?limit=5`, { token: V, expect: 200 });
  if (grid?.json && (grid.json.cells.length !== grid.json.runs.length ||
                     grid.json.cells.some((row) => row.length !== grid.json.tasks.length))) {
    report(false, 'the grid: a row per run, a cell per task', [JSON.stringify(grid.json).slice(0, 500)]);
  }
  await checkHead('the grid', `/api/v1/dags/${d}/grid`, { token: V, stableLength: true });
  await check('the grid, limit=0', 'GET', `/api/v1/dags/${d}/grid?limit=0`, { token: V, expect: 400, paramsInvalid: true });
  await check('the grid of an unknown DAG', 'GET', '/api/v1/dags/no_such_dag/grid', { token: V, expect: 404 });
  await check('the grid, no token', 'GET', `/api/v1/dags/${d}/grid`, { expect: 401 });

  // Rows of a table artifact (the demo's ingest persists its output), and of one that is not a table.
  const withTable = tasks.find((x) => x.artifacts.some((a) => a.name === 'output' && a.uri.endsWith('.parquet')));
  if (!withTable) {
    report(false, `run ${r} has a table artifact`, ['nothing to check artifact rows with']);
  } else {
    const at = `/api/v1/runs/${r}/tasks/${withTable.task_id}/artifacts/output/rows`;
    const rows = await check('artifact rows', 'GET', `${at}?limit=2&offset=1`, { token: V, expect: 200 });
    if (rows?.json && (rows.json.rows.length !== Math.min(2, Math.max(0, rows.json.total_rows - 1)) ||
                       rows.json.rows.some((row) => row.length !== rows.json.columns.length))) {
      report(false, 'artifact rows: as many as asked for, one value per column', [JSON.stringify(rows.json)]);
    }
    await checkHead('artifact rows', at, { token: V, stableLength: true });
    await check('artifact rows, limit=0', 'GET', `${at}?limit=0`, { token: V, expect: 400, paramsInvalid: true });
    await check('artifact rows, limit=1001', 'GET', `${at}?limit=1001`, { token: V, expect: 400, paramsInvalid: true });
    await check('artifact rows, offset=-1', 'GET', `${at}?offset=-1`, { token: V, expect: 400, paramsInvalid: true });
    await check('artifact rows, a bad name', 'GET', `/api/v1/runs/${r}/tasks/${withTable.task_id}/artifacts/Bad/rows`, { token: V, expect: 400, paramsInvalid: true });
    await check('artifact rows, an unknown artifact', 'GET', `/api/v1/runs/${r}/tasks/${withTable.task_id}/artifacts/nope/rows`, { token: V, expect: 404 });
    await check('artifact rows, an unknown run', 'GET', `/api/v1/runs/no-such-run/tasks/${withTable.task_id}/artifacts/output/rows`, { token: V, expect: 404 });
    await check('artifact rows, no token', 'GET', at, { expect: 401 });
  }
  const notTable = tasks.flatMap((x) => x.artifacts.map((a) => [x.task_id, a])).find(([, a]) => !a.uri.endsWith('.parquet'));
  if (notTable) {
    await check('artifact rows of a JSON report', 'GET', `/api/v1/runs/${r}/tasks/${notTable[0]}/artifacts/${notTable[1].name}/rows`, { token: V, expect: 400 });
    const doc = `/api/v1/runs/${r}/tasks/${notTable[0]}/artifacts/${notTable[1].name}`;
    await check('a JSON artifact', 'GET', doc, { token: V, expect: 200 });
    await checkHead('a JSON artifact', doc, { token: V, stableLength: true });
    await check('a JSON artifact, no token', 'GET', doc, { expect: 401 });
  }
  if (withTable) {
    await check('a table artifact as a document', 'GET', `/api/v1/runs/${r}/tasks/${withTable.task_id}/artifacts/output`, { token: V, expect: 400 });
    await check('an unknown artifact', 'GET', `/api/v1/runs/${r}/tasks/${withTable.task_id}/artifacts/nope`, { token: V, expect: 404 });
    const lineage = `/api/v1/lineage/runs/${r}/tasks/${withTable.task_id}/artifacts/output`;
    const tree = await check('an artifact\'s lineage', 'GET', lineage, { token: V, expect: 200 });
    if (tree?.json && (tree.json.kind !== 'artifact' || tree.json.task !== withTable.task_id)) {
      report(false, 'an artifact\'s lineage starts at the artifact', [JSON.stringify(tree.json)]);
    }
    await checkHead('an artifact\'s lineage', lineage, { token: V, stableLength: true });
    await check('lineage, no token', 'GET', lineage, { expect: 401 });
    await check('lineage of an unknown artifact', 'GET', `/api/v1/lineage/runs/${r}/tasks/${withTable.task_id}/artifacts/nope`, { token: V, expect: 404 });
    await check('lineage of an unknown run', 'GET', `/api/v1/lineage/runs/no-such-run/tasks/${withTable.task_id}/artifacts/output`, { token: V, expect: 404 });
    await check('lineage, a bad artifact name', 'GET', `/api/v1/lineage/runs/${r}/tasks/${withTable.task_id}/artifacts/Bad`, { token: V, expect: 400, paramsInvalid: true });
    await check('lineage, POST', 'POST', lineage, { token: A, expect: 405 });
  }

  // Cancel and clear: the error cases, and an ended run.
  await check('cancel as a viewer', 'POST', `/api/v1/runs/${r}/cancel`, { token: V, expect: 403 });
  await check('cancel, no token', 'POST', `/api/v1/runs/${r}/cancel`, { expect: 401 });
  await check('cancel an unknown run', 'POST', '/api/v1/runs/no-such-run/cancel', { token: A, expect: 404 });
  await check('cancel, a bad run id', 'POST', '/api/v1/runs/%2e%2e/cancel', { token: A, expect: 400, paramsInvalid: true });
  const cancelled = await check('cancel an ended run', 'POST', `/api/v1/runs/${r}/cancel`, { token: A, expect: 200 });
  if (cancelled?.json && cancelled.json.cancelled !== false) report(false, 'an ended run is not cancelled', [JSON.stringify(cancelled.json)]);
  await check('clear as a viewer', 'POST', `/api/v1/runs/${r}/tasks/${t}/clear`, { token: V, body: '{}', expect: 403 });
  await check('clear, no token', 'POST', `/api/v1/runs/${r}/tasks/${t}/clear`, { body: '{}', expect: 401 });
  await check('clear, a bad task id', 'POST', `/api/v1/runs/${r}/tasks/Bad/clear`, { token: A, body: '{}', expect: 400, paramsInvalid: true });
  await check('clear, a bad run id', 'POST', `/api/v1/runs/%2e%2e/tasks/${t}/clear`, { token: A, body: '{}', expect: 400, paramsInvalid: true });
  await check('clear an unknown task', 'POST', `/api/v1/runs/${r}/tasks/no_such_task/clear`, { token: A, body: '{}', expect: 404 });
  await check('clear, an unknown run', 'POST', `/api/v1/runs/no-such-run/tasks/${t}/clear`, { token: A, body: '{}', expect: 404 });
  await check('clear, body not JSON', 'POST', `/api/v1/runs/${r}/tasks/${t}/clear`, { token: A, body: 'yes', expect: 400 });
  await check('clear, "downstream" not a boolean', 'POST', `/api/v1/runs/${r}/tasks/${t}/clear`, { token: A, body: '{"downstream": 1}', expect: 400 });
  await check('clear, a body over 1 MiB', 'POST', `/api/v1/runs/${r}/tasks/${t}/clear`, { token: A, body: big, expect: 413 });
  await check('clear a task of an ended run', 'POST', `/api/v1/runs/${r}/tasks/${t}/clear`, { token: A, body: '{"downstream": true}', expect: 200 });
  await waitFor(`run ${r} to end again after the clear`, () => runEnded(r));

  // Methods the paths do not serve.
  await check('wrong method', 'DELETE', '/', { token: A, expect: 405 });
  await check('wrong method', 'POST', '/metrics', { token: A, expect: 405 });
  await check('wrong method', 'POST', '/api/v1/health', { token: A, body: '{}', expect: 405 });
  await check('wrong method', 'PUT', '/api/v1/dags', { token: A, body: '{}', expect: 405 });
  await check('wrong method', 'DELETE', `/api/v1/dags/${d}`, { token: A, expect: 405 });
  await check('wrong method', 'PUT', `/api/v1/dags/${d}/runs`, { token: A, body: '{}', expect: 405 });
  await check('wrong method', 'GET', `/api/v1/dags/${d}/backfill`, { token: A, expect: 405 });
  await check('wrong method', 'HEAD', `/api/v1/dags/${d}/backfill`, { token: A, expect: 405 });
  await check('wrong method', 'DELETE', '/api/v1/runs', { token: A, expect: 405 });
  await check('wrong method', 'DELETE', `/api/v1/runs/${r}`, { token: A, expect: 405 });
  await check('wrong method', 'GET', `/api/v1/runs/${r}/cancel`, { token: A, expect: 405 });
  await check('wrong method', 'GET', `/api/v1/runs/${r}/tasks/${t}/clear`, { token: A, expect: 405 });
  await check('wrong method', 'POST', `/api/v1/runs/${r}/tasks/${t}/logs`, { token: A, body: '{}', expect: 405 });

  // Unknown paths.
  await check('an unknown path', 'GET', '/api/v1/nope', { token: V, expect: 404 });
  await check('an unknown path', 'GET', '/nope', { expect: 404 });

  // With the DAG paused: triggered runs stay queued, so that 409s, cancels
  // and backfills happen on a known state.
  if (!(await waitFor(`DAG ${d} to have no queued or running run`, dagIdle))) finish();
  const paused = await check('pause', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: '{"paused": true}', expect: 200 });
  if (paused?.json && paused.json.paused !== true) report(false, 'the DAG is paused', [JSON.stringify(paused.json)]);
  const created = [];
  const slots = dag?.json?.max_active_runs ?? 1;
  for (let i = 0; i < slots; i++) {
    const body = i === 0 ? '{"queue": true, "params": {}}' : '';
    const res = await check('trigger (paused: queued)', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body, expect: 201 });
    if (res?.json) created.push(res.json.run_id);
  }
  await check('trigger without queueing, max_active_runs reached', 'POST', `/api/v1/dags/${d}/runs`, { token: A, body: '{"queue": false}', expect: 409 });
  if (created.length) {
    await check('a queued run', 'GET', `/api/v1/runs/${created[0]}`, { token: V, expect: 200 });
    await check('clear a task of a queued run', 'POST', `/api/v1/runs/${created[0]}/tasks/${t}/clear`, { token: A, expect: 409 });
    await check('a log of a task that has not started', 'GET', `/api/v1/runs/${created[0]}/tasks/${t}/logs`, { token: V, expect: 404 });
  }
  const range = '{"from": "2020-01-01", "to": "2020-01-02"}';
  const filled = await check('backfill', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, body: range, expect: scheduled ? 201 : 400 });
  if (scheduled) {
    await check('backfill again (nothing new)', 'POST', `/api/v1/dags/${d}/backfill`, { token: A, body: '{"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z", "rerun": false}', expect: 201 });
  }
  for (const id of [...created, ...(filled?.json?.runs ?? [])]) {
    const res = await check('cancel a queued run', 'POST', `/api/v1/runs/${id}/cancel`, { token: A, expect: 200 });
    if (res?.json && res.json.cancelled !== true) report(false, `queued run ${id} is cancelled`, [JSON.stringify(res.json)]);
  }
  await check('unpause', 'PATCH', `/api/v1/dags/${d}`, { token: A, body: '{"paused": false}', expect: 200 });

  // piped workers (none on this SQLite daemon: an empty list).
  await check('workers', 'GET', '/api/v1/workers', { token: V, expect: 200 });
  await checkHead('workers', '/api/v1/workers', { token: V, stableLength: true });
  await check('workers, no token', 'GET', '/api/v1/workers', { expect: 401 });
  await check('notifications', 'GET', '/api/v1/notifications', { token: V, expect: 200 });
  await check('notifications of a run', 'GET', `/api/v1/notifications?dag_id=${d}&run_id=${r}&limit=5`, { token: V, expect: 200 });
  await checkHead('notifications', '/api/v1/notifications', { token: V, stableLength: true });
  await check('notifications, a bad DAG id', 'GET', '/api/v1/notifications?dag_id=Bad-Id', { token: V, expect: 400, paramsInvalid: true });
  await check('notifications, limit=0', 'GET', '/api/v1/notifications?limit=0', { token: V, expect: 400, paramsInvalid: true });
  await check('notifications, no token', 'GET', '/api/v1/notifications', { expect: 401 });
  // The scheduled run of the demo DAG (today's tick, with a 1s deadline) has missed it.
  const misses = await check('sla misses', 'GET', `/api/v1/sla_misses?dag_id=${d}`, { token: V, expect: 200 });
  const missed = misses?.json?.sla_misses ?? [];
  report(missed.length === 1 && missed[0].task_id === '', 'sla misses: the scheduled run missed its deadline',
    missed.length === 1 ? [] : [`listed ${JSON.stringify(missed)}`]);
  await check('sla misses of a run', 'GET', `/api/v1/sla_misses?run_id=${r}&limit=5`, { token: V, expect: 200 });
  await checkHead('sla misses', '/api/v1/sla_misses', { token: V, stableLength: true });
  await check('sla misses, a bad DAG id', 'GET', '/api/v1/sla_misses?dag_id=Bad-Id', { token: V, expect: 400, paramsInvalid: true });
  await check('sla misses, limit=0', 'GET', '/api/v1/sla_misses?limit=0', { token: V, expect: 400, paramsInvalid: true });
  await check('sla misses, no token', 'GET', '/api/v1/sla_misses', { expect: 401 });

  // The model registry (the DAG's train task registered a version).
  const models = await check('models', 'GET', '/api/v1/models', { token: V, expect: 200 });
  await checkHead('models', '/api/v1/models', { token: V, stableLength: true });
  await check('models, no token', 'GET', '/api/v1/models', { expect: 401 });
  const m = models?.json?.models?.[0]?.name;
  if (!m) {
    report(false, 'a model is registered', ['nothing to check models with']);
  } else {
    // The daemon loads what an alias points at when a run ends or at its next
    // poll: wait for it to serve the version `production` names (the runs
    // above, and the clear, deployed), so that predict and the OIP version
    // routes below see one version.
    await waitFor(`model ${m}: the production version serving`, async () => {
      const production = (await getJson(`/api/v1/models/${m}`)).aliases?.production;
      const meta = await request('GET', `/v2/models/${m}`, { token: V });
      return meta.status === 200 && JSON.parse(meta.body).versions?.[0] === String(production);
    }, 30);
    await check('a model', 'GET', `/api/v1/models/${m}`, { token: V, expect: 200 });
    await checkHead('a model', `/api/v1/models/${m}`, { token: V, stableLength: true });
    await check('an unknown model', 'GET', '/api/v1/models/no_such_model', { token: V, expect: 404 });
    await check('a bad model name', 'GET', '/api/v1/models/Bad-Name', { token: V, expect: 400, paramsInvalid: true });
    await check('a model, no token', 'GET', `/api/v1/models/${m}`, { expect: 401 });
    await check('a model version', 'GET', `/api/v1/models/${m}/versions/1`, { token: V, expect: 200 });
    await checkHead('a model version', `/api/v1/models/${m}/versions/1`, { token: V, stableLength: true });
    await check('a version that never was', 'GET', `/api/v1/models/${m}/versions/99`, { token: V, expect: 404 });
    await check('version 0', 'GET', `/api/v1/models/${m}/versions/0`, { token: V, expect: 400, paramsInvalid: true });
    await check('version abc', 'GET', `/api/v1/models/${m}/versions/abc`, { token: V, expect: 400, paramsInvalid: true });
    await check('a version of an unknown model', 'GET', '/api/v1/models/no_such_model/versions/1', { token: V, expect: 404 });
    const modelLineage = await check('a model version\'s lineage', 'GET', `/api/v1/lineage/models/${m}/versions/1`, { token: V, expect: 200 });
    if (modelLineage?.json && (modelLineage.json.kind !== 'model' || modelLineage.json.inputs.length === 0)) {
      report(false, 'a model version\'s lineage names its training table', [JSON.stringify(modelLineage.json)]);
    }
    await check('lineage of a version that never was', 'GET', `/api/v1/lineage/models/${m}/versions/99`, { token: V, expect: 404 });
    await check('lineage of version 0', 'GET', `/api/v1/lineage/models/${m}/versions/0`, { token: V, expect: 400, paramsInvalid: true });
    await check('delete a model', 'DELETE', `/api/v1/models/${m}`, { token: A, expect: 405 });
    // Serving: the DAG's serve task pointed `production` at the version.
    const rows = JSON.stringify({ rows: [{ x: 2, z: 4 }, { x: 7, z: 1, extra: 'ignored' }] });
    const scored = await check('predict, viewer', 'POST', `/api/v1/models/${m}/predict`, { token: V, body: rows, expect: 200 });
    report(scored?.json?.predictions?.length === 2 && scored?.json?.version >= 1, 'predict answers a prediction per row', [JSON.stringify(scored?.json)]);
    await check('predict, an alias', 'POST', `/api/v1/models/${m}/predict?alias=production`, { token: V, body: rows, expect: 200 });
    await check('predict, no token', 'POST', `/api/v1/models/${m}/predict`, { body: rows, expect: 401 });
    await check('predict, a missing feature', 'POST', `/api/v1/models/${m}/predict`, { token: V, body: '{"rows": [{"x": 1}]}', expect: 400 });
    await check('predict, a wrong type', 'POST', `/api/v1/models/${m}/predict`, { token: V, body: '{"rows": [{"x": "1", "z": 2}]}', expect: 400 });
    await check('predict, a fraction for an integer', 'POST', `/api/v1/models/${m}/predict`, { token: V, body: '{"rows": [{"x": 2.5, "z": 2}]}', expect: 400 });
    await check('predict, invalid JSON', 'POST', `/api/v1/models/${m}/predict`, { token: V, body: '{"rows": [', expect: 400 });
    await check('predict, no rows', 'POST', `/api/v1/models/${m}/predict`, { token: V, body: '{"row": []}', expect: 400 });
    await check('predict, an unknown model', 'POST', '/api/v1/models/no_such_model/predict', { token: V, body: rows, expect: 404 });
    await check('predict, an unknown alias', 'POST', `/api/v1/models/${m}/predict?alias=canary`, { token: V, body: rows, expect: 404 });
    await check('predict, a bad alias', 'POST', `/api/v1/models/${m}/predict?alias=Bad-Alias`, { token: V, body: rows, expect: 400 });
    await check('predict, over 1 MiB', 'POST', `/api/v1/models/${m}/predict`, { token: V, body: big, expect: 413 });
    await check('predict, GET', 'GET', `/api/v1/models/${m}/predict`, { token: V, expect: 405 });
    await check('OIP ready', 'GET', '/v2/health/ready', { expect: 200 });
    await checkHead('OIP ready', '/v2/health/ready', { stableLength: true });
    await check('OIP metadata', 'GET', `/v2/models/${m}`, { token: V, expect: 200 });
    await check('OIP metadata, no token', 'GET', `/v2/models/${m}`, { expect: 401 });
    await check('OIP metadata, unknown', 'GET', '/v2/models/no_such_model', { token: V, expect: 404 });
    await check('OIP model ready', 'GET', `/v2/models/${m}/ready`, { token: V, expect: 200 });
    await check('OIP model ready, unknown', 'GET', '/v2/models/no_such_model/ready', { token: V, expect: 404 });
    const infer = JSON.stringify({ id: 'r1', inputs: [{ name: 'x', shape: [2], datatype: 'FP64', data: [2, 7] },
                                                     { name: 'z', shape: [2, 1], datatype: 'FP64', data: [[4], [1]] }] });
    const inferred = await check('OIP infer', 'POST', `/v2/models/${m}/infer`, { token: V, body: infer, expect: 200 });
    report(JSON.stringify(inferred?.json?.outputs?.[0]?.data) === JSON.stringify(scored?.json?.predictions),
           'OIP infer scores as predict does', [JSON.stringify(inferred?.json)]);
    await check('OIP live', 'GET', '/v2/health/live', { expect: 200 });
    await checkHead('OIP live', '/v2/health/live', { stableLength: true });
    const server = await check('OIP server metadata', 'GET', '/v2', { expect: 200 });
    report(server?.json?.name === 'piped', 'OIP server metadata names piped', [JSON.stringify(server?.json)]);
    const one = (extra) => JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [2] },
                                                     { name: 'z', shape: [1], datatype: 'FP32', data: [4] }], ...extra });
    const picked = await check('OIP infer, one output asked for', 'POST', `/v2/models/${m}/infer`, { token: V, body: one({ outputs: [{ name: 'predict' }] }), expect: 200 });
    report(picked?.json?.outputs?.length === 1 && picked?.json?.outputs?.[0]?.name === 'predict', 'OIP infer answers the outputs asked for', [JSON.stringify(picked?.json)]);
    await check('OIP infer, an unknown output', 'POST', `/v2/models/${m}/infer`, { token: V, body: one({ outputs: [{ name: 'nope' }] }), expect: 400 });
    await check('OIP infer, an id that is no string', 'POST', `/v2/models/${m}/infer`, { token: V, body: one({ id: 5 }), expect: 400 });
    await check('OIP infer, BYTES for a number', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', data: ['2'] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    await check('OIP infer, no datatype', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], data: [2] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    await check('OIP infer, an input twice', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [2] }, { name: 'x', shape: [1], datatype: 'INT64', data: [3] },
                                      { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    await check('OIP infer, a missing input', 'POST', `/v2/models/${m}/infer`, { token: V, body: '{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}', expect: 400 });
    const unknownInput = await check('OIP infer, an unknown input', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [2] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] },
                                      { name: 'zz', shape: [1], datatype: 'FP64', data: [4] }] }) });
    report(unknownInput?.json?.error === "unknown input 'zz' (the model's inputs: x, z)", 'OIP infer names an unknown input and the inputs',
           [JSON.stringify(unknownInput?.json)]);
    await check('OIP infer, no inputs', 'POST', `/v2/models/${m}/infer`, { token: V, body: '{}', expect: 400 });
    await check('OIP infer, a shape of three dimensions', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 1, 1], datatype: 'INT64', data: [2] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    await check('OIP infer, a negative UINT64', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'UINT64', data: [-1] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    await check('OIP infer, a fraction as INT64', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [2.5] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    await check('OIP infer, unknown', 'POST', '/v2/models/no_such_model/infer', { token: V, body: infer, expect: 404 });
    await check('OIP infer, an INT8 beyond its range', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT8', data: [1000] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    await check('OIP infer, an FP16 beyond its range', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [2] }, { name: 'z', shape: [1], datatype: 'FP16', data: [1e10] }] }) });
    await check('OIP infer, lists for shape [N]', 'POST', `/v2/models/${m}/infer`, { token: V, expect: 400,
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [[2]] }, { name: 'z', shape: [1], datatype: 'FP64', data: [4] }] }) });
    // The version routes: the version the alias serves, and no other.
    const v = String(scored?.json?.version);
    await check('OIP metadata, the version served', 'GET', `/v2/models/${m}/versions/${v}`, { token: V, expect: 200 });
    await check('OIP metadata, another version', 'GET', `/v2/models/${m}/versions/999`, { token: V, expect: 404 });
    await check('OIP metadata, a bad version', 'GET', `/v2/models/${m}/versions/x`, { token: V, expect: 400 });
    await check('OIP model ready, the version served', 'GET', `/v2/models/${m}/versions/${v}/ready`, { token: V, expect: 200 });
    await check('OIP model ready, another version', 'GET', `/v2/models/${m}/versions/999/ready`, { token: V, expect: 404 });
    const versioned = await check('OIP infer, the version served', 'POST', `/v2/models/${m}/versions/${v}/infer`, { token: V, body: infer, expect: 200 });
    report(versioned?.json?.model_version === v, 'OIP infer of a version answers that version', [JSON.stringify(versioned?.json)]);
    const missing = await check('OIP infer, another version', 'POST', `/v2/models/${m}/versions/999/infer`, { token: V, body: infer, expect: 404 });
    report(typeof missing?.json?.error === 'string', 'an OIP error is {"error": MESSAGE}', [JSON.stringify(missing?.json)]);
    // Online features kept by the DAG's features task.
    await check('online features', 'GET', '/api/v1/features/profile/3', { token: V, expect: 200 });
    await checkHead('online features', '/api/v1/features/profile/3', { token: V, stableLength: true });
    await check('online features, the DAG named', 'GET', '/api/v1/features/profile/3?dag=openapi_demo', { token: V, expect: 200 });
    await check('online features, an unknown key', 'GET', '/api/v1/features/profile/999', { token: V, expect: 404 });
    await check('online features, an unknown task', 'GET', '/api/v1/features/nothing/3', { token: V, expect: 404 });
    await check('online features, a bad task id', 'GET', '/api/v1/features/Bad-Task/3', { token: V, expect: 400, paramsInvalid: true });
    await check('online features, a bad DAG id', 'GET', '/api/v1/features/profile/3?dag=Bad-Dag', { token: V, expect: 400 });
    await check('online features, no token', 'GET', '/api/v1/features/profile/3', { expect: 401 });
    // Aliases: point production at v1, roll it back (to what served), and the refusals.
    const served = (await getJson(`/api/v1/models/${m}`)).aliases?.production;
    const moved = await check('move an alias', 'PUT', `/api/v1/models/${m}/aliases/production`, { token: A, body: '{"version": 1}', expect: 200 });
    report(moved?.json?.version === 1 && moved?.json?.serving === 1 && moved?.json?.was === (served ?? null),
           'a moved alias serves its version before the answer', [JSON.stringify(moved?.json)]);
    if (served && served !== 1) {
      const back = await check('roll an alias back', 'POST', `/api/v1/models/${m}/aliases/production/rollback`, { token: A, expect: 200 });
      report(back?.json?.version === served && back?.json?.was === 1, 'a rollback goes back to the version before', [JSON.stringify(back?.json)]);
    } else {
      report(false, 'the model has a second version to roll back to', [`production was ${served}`]);
    }
    await check('move an alias, viewer', 'PUT', `/api/v1/models/${m}/aliases/production`, { token: V, body: '{"version": 1}', expect: 403 });
    await check('move an alias, no token', 'PUT', `/api/v1/models/${m}/aliases/production`, { body: '{"version": 1}', expect: 401 });
    await check('move an alias to a version that never was', 'PUT', `/api/v1/models/${m}/aliases/production`, { token: A, body: '{"version": 99}', expect: 404 });
    await check('move an alias of an unknown model', 'PUT', '/api/v1/models/no_such_model/aliases/production', { token: A, body: '{"version": 1}', expect: 404 });
    await check('move an alias, no version', 'PUT', `/api/v1/models/${m}/aliases/production`, { token: A, body: '{}', expect: 400 });
    await check('move an alias, a bad alias', 'PUT', `/api/v1/models/${m}/aliases/Bad-Alias`, { token: A, body: '{"version": 1}', expect: 400, paramsInvalid: true });
    await check('move an alias, GET', 'GET', `/api/v1/models/${m}/aliases/production`, { token: A, expect: 405 });
    await check('roll back an alias that is not set', 'POST', `/api/v1/models/${m}/aliases/canary/rollback`, { token: A, expect: 404 });
    await check('roll back, a field', 'POST', `/api/v1/models/${m}/aliases/production/rollback`, { token: A, body: '{"version": 1}', expect: 400 });
    await check('set staging', 'PUT', `/api/v1/models/${m}/aliases/staging`, { token: A, body: '{"version": 1}', expect: 200 });
    await check('roll back an alias that never moved', 'POST', `/api/v1/models/${m}/aliases/staging/rollback`, { token: A, expect: 409 });
  }

  // Every operation of the spec was exercised.
  for (const [template, item] of Object.entries(spec.paths)) {
    for (const [m, op] of operations(item)) {
      const key = `${m.toUpperCase()} ${template}`;
      report(covered.has(key), `exercised: ${key} (${op.operationId ?? '?'})`, covered.has(key) ? [] : ['no request got a 2xx from it']);
      if (covered.has(key)) {
        const unseen = Object.keys(op.responses ?? {}).filter((s) => !seenStatuses.get(key)?.has(Number(s)));
        if (unseen.length) console.log(`note: ${key}: documented but not provoked: ${unseen.join(', ')}`);
      }
    }
  }
  finish();
}

main().catch((e) => {
  report(false, 'the check crashed', [e.stack]);
  finish();
});
