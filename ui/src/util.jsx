// Small pieces every page uses: loading data, states, times, tables.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

export const STATES = ['pending', 'queued', 'running', 'success', 'failed', 'up_for_retry',
  'upstream_failed', 'skipped', 'cancelled', 'waiting'];

// GET `path` now and whenever `deps` change; reload() fetches again.
export function useApi(path, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const load = useCallback(async () => {
    if (!path) return;
    const mine = ++seq.current;
    try {
      const data = await api.get(path);
      if (mine === seq.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, [path]);
  useEffect(() => { load(); }, [load, ...deps]);
  return { ...state, reload: load };
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
  const box = <span class={`square s-${state || 'none'}`} title={title || state} />;
  return href ? <a href={href}>{box}</a> : box;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return <div class="error" role="alert">{error.code ? `${error.code}: ` : ''}{error.message || String(error)}</div>;
}

export function Loading({ what }) {
  return <p class="muted">Loading {what}…</p>;
}

export const time = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');

export function duration(start, end) {
  if (!start) return '';
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start);
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

export const number = (n) => (n === null || n === undefined ? '' : Number(n).toLocaleString('en-US'));

export function Tabs({ tabs, current, base }) {
  return (
    <nav class="tabs">
      {tabs.map(([id, label]) => (
        <a key={id} href={`${base}/${id}`} class={id === current ? 'active' : ''}>{label}</a>
      ))}
    </nav>
  );
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
              <td key={j} class={cellClass ? cellClass(j, v) : ''}>{v === null ? <i class="muted">null</i> : String(v)}</td>
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
    try { await run(); } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return (
    <span class="action">
      <button class={kind} disabled={disabled || busy} title={title} onClick={click}>{label}</button>
      {error && <span class="error inline" role="alert">{error.message}</span>}
    </span>
  );
}
