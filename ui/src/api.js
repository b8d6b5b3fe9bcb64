// The REST API of piped (docs/api/openapi.yaml), with the session's token.
import { navigate } from './router.js';

const TOKEN_KEY = 'piped.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY)),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  const h = { ...extra };
  const t = token.get();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// A 401 leads to the login page, which comes back here afterwards.
function toLogin() {
  const here = location.pathname + location.search;
  if (!location.pathname.startsWith('/ui/login')) navigate(`/ui/login?next=${encodeURIComponent(here)}`);
}

// A 403 means the role changed under the page (a token replaced): the
// session is asked again (session.js listens), so the controls follow.
export const FORBIDDEN_EVENT = 'piped-forbidden';

// `raw`: an OK response's body as bytes (logs: text decoded by the caller,
// across reads).
async function request(method, path, body, { raw = false } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(path, init);
  if (r.status === 401) toLogin();
  if (r.status === 403) window.dispatchEvent(new Event(FORBIDDEN_EVENT));
  if (raw && r.ok) return { data: new Uint8Array(await r.arrayBuffer()), response: r };
  const type = r.headers.get('Content-Type') || '';
  const data = type.startsWith('application/json') ? await r.json() : await r.text();
  if (!r.ok) {
    const e = data && data.error ? data.error : { code: String(r.status), message: String(data) };
    throw new ApiError(r.status, e.code, e.message);
  }
  return { data, response: r };
}

export const api = {
  get: async (path) => (await request('GET', `/api/v1${path}`)).data,
  post: async (path, body = {}) => (await request('POST', `/api/v1${path}`, body)).data,
  patch: async (path, body) => (await request('PATCH', `/api/v1${path}`, body)).data,
  put: async (path, body) => (await request('PUT', `/api/v1${path}`, body)).data,
  // A try's log from byte `offset` on, or only its last `tail` bytes:
  // {bytes, start, next} (start: where the bytes start; next: where to read
  // on). Bytes, not text: a read may end inside a character.
  log: async (run, task, tryNumber, offset, tail = 0) => {
    const { data, response } = await request(
      'GET', `/api/v1/runs/${enc(run)}/tasks/${enc(task)}/logs?try=${tryNumber}&offset=${offset}${tail ? `&tail=${tail}` : ''}`,
      undefined, { raw: true });
    const next = Number(response.headers.get('X-Log-Size') || offset + data.length);
    return { bytes: data, start: Number(response.headers.get('X-Log-Start') || next - data.length), next };
  },
};

export const enc = encodeURIComponent;

// Follows GET /api/v1/events (Server-Sent Events) with the token in a header,
// which EventSource cannot send: calls onEvent(event) per transition and
// reconnects after a drop from the last id seen. A hidden tab lets go of its
// stream (a browser has six connections per host for every tab: six open
// pages would leave none for the seventh) and picks it up from the last id
// seen when shown again, so nothing is missed. An answer that will not
// change (400, 403, 404) ends it: onState('error'). Returns a stop function.
export function followEvents(query, onEvent, onState = () => {}) {
  let stopped = false;
  let controller = null;
  let last = null;
  let wake = null;  // resolves the wait of a hidden tab
  const onVisibility = () => {
    if (document.hidden) { if (controller) controller.abort(); } else if (wake) { wake(); }
  };
  document.addEventListener('visibilitychange', onVisibility);
  (async () => {
    while (!stopped) {
      if (document.hidden) {
        onState('paused');
        await new Promise((res) => { wake = res; });
        wake = null;
        if (stopped) return;
      }
      controller = new AbortController();
      try {
        const q = new URLSearchParams(query);
        if (last !== null) q.set('after', last);
        const r = await fetch(`/api/v1/events?${q}`, { headers: headers(), signal: controller.signal });
        if (r.status === 401) { toLogin(); return; }
        if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
          onState('error');
          return;
        }
        if (!r.ok) throw new Error(`events: HTTP ${r.status}`);
        onState('live');
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let id = null, data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('id:')) id = line.slice(3).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (id !== null) last = id;
            if (data) {
              try { onEvent(JSON.parse(data)); } catch { /* a comment or keep-alive */ }
            }
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (document.hidden) continue;  // let go on purpose: wait to be shown
      onState('reconnecting');
      await new Promise((res) => setTimeout(res, 1000));
    }
  })();
  return () => {
    stopped = true;
    document.removeEventListener('visibilitychange', onVisibility);
    if (controller) controller.abort();
    if (wake) wake();
  };
}
