// Small pieces every page uses: loading data, states, times, tables.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { refreshSession } from './session.js';

export const STATES = ['pending', 'queued', 'running', 'success', 'failed', 'up_for_retry',
  'upstream_failed', 'skipped', 'cancelled', 'waiting'];

// GET `path` now and whenever `deps` change; reload() fetches again.
export function useApi(path, deps = []) {
  const [state, setState] = useState({ path: null, data: null, error: null });
  const seq = useRef(0);
  const load = useCallback(async () => {
    if (!path) return;
    const mine = ++seq.current;
    try {
      const data = await api.get(path);
      if (mine === seq.current) setState({ path, data, error: null });
    } catch (error) {
      // A failed refresh keeps what this path showed; another path's is not kept.
      if (mine === seq.current) setState((s) => ({ path, data: s.path === path ? s.data : null, error }));
    }
  }, [path]);
  useEffect(() => { load(); }, [load, ...deps]);
  // What an earlier path answered is not this one's (a link from one DAG's
  // page to another's shows "loading", not the first DAG).
  const current = state.path === path;
  return { data: current ? state.data : null, error: current ? state.error : null, loading: !current, reload: load };
}

// Calls fn every `ms` while `active`.
export function useInterval(fn, ms, active = true) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return undefined;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms, active]);
}

export function State({ state }) {
  return <span class={`state s-${state || 'none'}`}>{state || 'none'}</span>;
}

export function Square({ state, title, href }) {
  const label = title || state || 'none';
  const box = <span class={`square s-${state || 'none'}`} title={label} />;
  return href ? <a href={href} aria-label={label}>{box}</a> : box;
}

// A name cut to `max` characters in the middle, so that names sharing a
// long prefix stay apart ("t_with_a_rath…_name_42").
export function shorten(name, max) {
  if (name.length <= max) return name;
  const tail = Math.floor((max - 1) / 2);
  return `${name.slice(0, max - 1 - tail)}…${name.slice(name.length - tail)}`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return <div class="error" role="alert">{error.code ? `${error.code}: ` : ''}{error.message || String(error)}</div>;
}

export function Loading({ what }) {
  return <p class="muted">Loading {what}…</p>;
}

export const time = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');

// A schedule's tick in UTC and, for a DAG of another time zone, as its
// cron reads it there ("2026-12-07 02:00:00Z (03:00 Europe/Berlin)").
export function tickTime(iso, zone) {
  if (!iso) return '';
  if (!zone || zone === 'UTC' || zone === 'Etc/UTC') return time(iso);
  try {
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .format(new Date(iso));
    return `${time(iso)} (${local} ${zone})`;
  } catch {
    return time(iso);  // a zone this browser does not know
  }
}

export function duration(start, end) {
  if (!start) return '';
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start);
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);  // rounded once: 119.6 s is 2 m 0 s, not 1 m 60 s
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m} m ${whole % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

// The times of a task's current try (a cleared task's first try started
// long before: the run's clock is not the task's).
export function currentTry(task) {
  const tr = task.tries && task.tries.length ? task.tries[task.tries.length - 1] : null;
  return tr ? { started: tr.started_at, ended: tr.ended_at } : { started: task.started_at, ended: task.ended_at };
}

export const number = (n) => (n === null || n === undefined ? '' : Number(n).toLocaleString('en-US'));

// A float as people write it: 12 significant digits at most (59.55, not
// 59.55000000000004, the double's own text), no trailing zeros (0.007).
export const shortNumber = (v, digits = 12) => (Number.isInteger(v) ? String(v) : String(Number(Number(v).toPrecision(digits))));

export function Tabs({ tabs, current, base }) {
  return (
    <nav class="tabs">
      {tabs.map(([id, label]) => (
        <a key={id} href={`${base}/${id}`} class={id === current ? 'active' : ''}>{label}</a>
      ))}
    </nav>
  );
}

// Text in which run ids ("20261206T082437-1a2b3c4d", as trigger_dag's
// summary names the run it made) link to their runs, and "NAME vN" of a
// registered model (train's, serve's and predict's summaries) to that
// version's page.
const RUN_ID = /\b(\d{8}T\d{6}-[0-9a-f]{8})\b/;
const MODEL_VERSION = /\b([a-z][a-z0-9_]{0,63}) v(\d+)\b/g;
function withModels(text, models, key) {
  if (!models || !models.size) return [text];
  const out = [];
  let at = 0;
  for (const m of text.matchAll(MODEL_VERSION)) {
    if (!models.has(m[1])) continue;
    out.push(text.slice(at, m.index));
    out.push(<a key={`${key}.${m.index}`} href={`/ui/models/${enc(m[1])}/versions/${m[2]}`}>{m[0]}</a>);
    at = m.index + m[0].length;
  }
  out.push(text.slice(at));
  return out;
}
export function Linked({ text, models }) {
  const parts = String(text).split(RUN_ID);
  return parts.flatMap((p, i) => (i % 2 ? [<a key={i} href={`/ui/runs/${enc(p)}`}>{p}</a>] : withModels(p, models, i)));
}

// The names of the registered models (a Set), for Linked.
export function useModelNames() {
  const { data } = useApi('/models');
  return useMemo(() => new Set(data ? data.models.map((m) => m.name) : []), [data]);
}

// A small table of rows (arrays) with a header.
export function DataTable({ columns, rows, cellClass }) {
  return (
    <div class="scroll-x">
      <table class="data">
        <thead><tr>{columns.map((c) => <th key={c}>{c}</th>)}</tr></thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>{row.map((v, j) => (
              <td key={j} class={`${cellClass ? cellClass(j, v) : ''}${typeof v === 'number' ? ' num' : ''}`}
                title={typeof v === 'number' && shortNumber(v) !== String(v) ? String(v) : undefined}>
                {v === null ? <i class="muted">null</i> : typeof v === 'number' ? shortNumber(v) : String(v)}</td>
            ))}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// A button that runs an async action, shows it working and its error.
export function Action({ label, run, disabled, title, kind = '', confirm: ask }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const click = async () => {
    if (ask && !window.confirm(ask)) return;
    setBusy(true);
    setError(null);
    try {
      await run();
    } catch (e) {
      setError(e);
      setTimeout(() => setError((shown) => (shown === e ? null : shown)), 10000);  // said, then out of the way
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button class={kind} disabled={disabled || busy} title={title} onClick={click}>{label}</button>
      {error && <span class="error inline" role="alert">{error.message}</span>}
    </span>
  );
}

// The pause switch of a DAG: a refusal (a role that may not, a DAG gone)
// puts the box back and says why, as the action buttons do.
export function PauseSwitch({ dag, paused, operate, title, label, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const change = async (e) => {
    const box = e.currentTarget;
    const want = box.checked;
    setBusy(true);
    setError(null);
    try {
      await api.patch(`/dags/${enc(dag)}`, { paused: want });
    } catch (err) {
      box.checked = !want;
      setError(err);
      if (err.status === 403) refreshSession();
    } finally {
      setBusy(false);
      onDone();
    }
  };
  return (
    <span class="action">
      <label class="switch" title={title}>
        <input type="checkbox" checked={paused} disabled={!operate || busy} aria-label={label} onChange={change} />
        paused
      </label>
      {error && <span class="error inline" role="alert">{error.message}</span>}
    </span>
  );
}
