// The trigger form, generated from the DAG's params: one field per
// parameter, typed like its default (the server checks again).
import { useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { navigate } from '../router.js';

// The value a field's text stands for, or an Error naming what is wrong.
// A number goes as its text: the server reads it as YAML does (typed) and
// renders it as typed (0.80 stays 0.80), and a browser's doubles would
// round an integer beyond 2^53.
export function parseParam(param, text) {
  const t = text.trim();
  switch (param.type) {
    case 'integer':
      if (!/^-?\d+$/.test(t)) return new Error(`${param.name} must be an integer`);
      if (BigInt(t) > 9223372036854775807n || BigInt(t) < -9223372036854775808n) {
        return new Error(`${param.name} must be a 64-bit integer`);
      }
      return t;
    case 'number':
      if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) || !Number.isFinite(Number(t))) {
        return new Error(`${param.name} must be a finite number`);
      }
      return t;
    case 'boolean':
      return t === 'true';
    case 'list':
      try {
        const v = JSON.parse(t);
        if (!Array.isArray(v)) throw new Error();
        return v;
      } catch {
        return new Error(`${param.name} must be a JSON list, e.g. ["a", "b"]`);
      }
    default:
      return t;
  }
}

// A field's starting text. A boolean written TRUE or False comes as its text ("FALSE"): the select
// takes true or false.
const show = (param) => {
  if (param.type === 'list') return JSON.stringify(param.default);
  if (param.default === null) return '';
  if (param.type === 'boolean') return String(param.default).toLowerCase() === 'true' ? 'true' : 'false';
  return String(param.default);
};

export function TriggerForm({ dag, onClose }) {
  const [values, setValuesOnly] = useState(Object.fromEntries(dag.params.map((p) => [p.name, show(p)])));
  const [errors, setErrors] = useState({});
  // An edited field's error goes until the next submit checks it again.
  const setValues = (next) => {
    setErrors(Object.fromEntries(Object.entries(errors).filter(([name]) => next[name] === values[name])));
    setValuesOnly(next);
  };
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const params = {};
    const bad = {};
    for (const p of dag.params) {
      if (values[p.name] === show(p)) continue;  // the default: let the DAG's stand
      const v = parseParam(p, values[p.name]);
      if (v instanceof Error) bad[p.name] = v.message;
      else params[p.name] = v;
    }
    setErrors(bad);
    if (Object.keys(bad).length) return;
    setBusy(true);
    setError(null);
    try {
      const run = await api.post(`/dags/${enc(dag.dag_id)}/runs`, { params });
      navigate(`/ui/runs/${enc(run.run_id)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="modal" role="dialog" aria-label={`Trigger ${dag.dag_id}`}>
      <form class="card" onSubmit={submit}>
        <h2>Trigger {dag.dag_id}</h2>
        {dag.params.length === 0 && <p class="muted">This DAG has no parameters.</p>}
        {dag.params.map((p) => (
          <label key={p.name} class="param">
            <span>{p.name} <span class="muted">({p.type})</span></span>
            {p.type === 'boolean' ? (
              <select name={p.name} value={values[p.name]} onChange={(e) => setValues({ ...values, [p.name]: e.target.value })}>
                <option value="true">true</option><option value="false">false</option>
              </select>
            ) : (
              <input name={p.name} value={values[p.name]} inputMode={p.type === 'integer' || p.type === 'number' ? 'decimal' : 'text'}
                onInput={(e) => setValues({ ...values, [p.name]: e.target.value })} />
            )}
            {errors[p.name] && <span class="error inline" role="alert">{errors[p.name]}</span>}
          </label>
        ))}
        <div class="buttons">
          <button type="submit" class="primary" disabled={busy}>Trigger</button>
          <button type="button" onClick={onClose}>Cancel</button>
        </div>
        {error && <p class="error" role="alert">{error.message}</p>}
      </form>
    </div>
  );
}
