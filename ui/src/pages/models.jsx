import { api, enc } from '../api.js';
import { canOperate, NOT_ALLOWED, useSession } from '../session.js';
import { TrendChart } from '../charts.jsx';
import { LineageView } from '../lineage.jsx';
import { Action, ErrorBox, Loading, number, shortNumber, time, useApi, useInterval } from '../util.jsx';

export function ModelsPage() {
  const { data, error, reload } = useApi('/models');
  useInterval(reload, 10000);  // a model trained or an alias moved elsewhere
  return (
    <section>
      <h1>Models</h1>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="models" />}
      {data && data.models.length === 0 && <p class="muted">No model yet: a <code>train</code> task registers one.</p>}
      {data && data.models.length > 0 && (
        <table class="list">
          <thead><tr><th>model</th><th>versions</th><th>latest</th><th>aliases</th><th>updated</th></tr></thead>
          <tbody>
            {data.models.map((m) => (
              <tr key={m.name}>
                <td><a href={`/ui/models/${enc(m.name)}`}><b>{m.name}</b></a></td>
                <td class="num">{m.versions}</td><td class="num">v{m.latest_version}</td>
                <td>{Object.entries(m.aliases).map(([a, v]) => <span key={a} class="tag">{a} → v{v}</span>)}</td>
                <td>{time(m.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(4)) : '');

export function ModelPage({ name }) {
  const { data, error, reload } = useApi(`/models/${enc(name)}`);
  useInterval(reload, 10000);
  const operate = canOperate(useSession());
  if (error && !data) return <ErrorBox error={error} />;
  if (!data) return <Loading what={name} />;
  const versions = [...data.versions].sort((a, b) => a.version - b.version);
  const metricNames = [...new Set(versions.flatMap((v) => Object.keys(v.metrics).filter((k) => typeof v.metrics[k] === 'number' && !k.endsWith('_rows'))))];
  const aliasesOf = (v) => Object.entries(data.aliases).filter(([, n]) => n === v).map(([a]) => a);
  const serving = data.aliases.production;
  const classifier = versions.some((v) => v.metrics.confusion);
  return (
    <section>
      <div class="title-row"><h1>{data.name}</h1>
        <span class="muted">{versions.length} versions; {serving ? <>piped serves <b>v{serving}</b> (alias production)</> : 'no version serves (no production alias)'}</span>
        <span class="spacer" />
        {serving && <Action label="Roll back production" disabled={!operate}
          title={operate ? 'point production back at the version it had before' : NOT_ALLOWED}
          confirm={`Point ${data.name}@production back at the version it had before v${serving}?`}
          run={async () => { await api.post(`/models/${enc(data.name)}/aliases/production/rollback`); reload(); }} />}
      </div>
      {versions.length > 1 && (
        <div class="card"><h2>Metrics across versions</h2>
          <TrendChart labels={versions.map((v) => `v${v.version}`)} series={metricNames.map((m) => [m, versions.map((v) => v.metrics[m] ?? null)])} />
        </div>
      )}
      <h2>Versions</h2>
      <div class="scroll-x">
        <table class="list versions">
          <thead><tr><th>version</th><th>aliases</th><th>type</th><th>trained by</th><th>created</th>{metricNames.map((m) => <th key={m}>{m}</th>)}{classifier && <th title="on the test rows">confusion</th>}<th>train rows</th><th>validation rows</th><th>test rows</th><th /></tr></thead>
          <tbody>
            {[...versions].reverse().map((v) => (
              <tr key={v.version} class={v.version === serving ? 'serving' : ''} data-version={v.version}>
                <td><a href={`/ui/models/${enc(data.name)}/versions/${v.version}`}>v{v.version}</a></td>
                <td>{aliasesOf(v.version).map((a) => <span key={a} class="tag">{a}</span>)}</td>
                <td>{v.model_type} <span class="muted small">{v.kind}</span></td>
                <td><a href={`/ui/runs/${enc(v.run_id)}`}>{v.run_id}</a></td>
                <td>{time(v.created_at)}</td>
                {metricNames.map((m) => <td key={m} class="num">{fmt(v.metrics[m])}</td>)}
                {classifier && <td class="small nowrap">{v.metrics.confusion
                  ? <span title="true positives, false positives; false negatives, true negatives">TP {fmt(v.metrics.confusion.tp)} FP {fmt(v.metrics.confusion.fp)}<br />FN {fmt(v.metrics.confusion.fn)} TN {fmt(v.metrics.confusion.tn)}</span> : ''}</td>}
                <td class="num">{fmt(v.metrics.train_rows)}</td>
                <td class="num">{fmt(v.metrics.validation_rows)}</td>
                <td class="num">{fmt(v.metrics.test_rows)}</td>
                <td class="nowrap">{v.version !== serving && <Action label="Serve" disabled={!operate}
                  title={operate ? `point production at v${v.version}: piped serves it from the next request` : NOT_ALLOWED}
                  confirm={`Serve ${data.name} v${v.version} (alias production${serving ? `, now v${serving}` : ''})?`}
                  run={async () => { await api.put(`/models/${enc(data.name)}/aliases/production`, { version: v.version }); reload(); }} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data.alias_history.length > 0 && (
        <>
          <h2>Alias history</h2>
          <table class="list">
            <thead><tr><th>when</th><th>alias</th><th>version</th></tr></thead>
            <tbody>{data.alias_history.map((h, i) => (
              <tr key={i}><td>{time(h.set_at)}</td><td>{h.alias}</td><td>{h.version !== null && h.version !== undefined ? `v${h.version}` : '—'}</td></tr>
            ))}</tbody>
          </table>
        </>
      )}
    </section>
  );
}

// One version, as MLflow's run page shows it: what it is, how it scored,
// its parameters, its inputs and their importance, the fitted transform
// chain it replays on raw rows, and what it was trained on.
export function ModelVersionPage({ name, version }) {
  const { data, error } = useApi(`/models/${enc(name)}/versions/${enc(version)}`);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what={`${name} v${version}`} />;
  const l = data.lineage;
  const metrics = Object.entries(data.metrics).filter(([, v]) => typeof v === 'number');
  const importance = Object.entries(data.importance || {}).sort((a, b) => b[1] - a[1]);
  const top = Math.max(1e-300, ...importance.map(([, v]) => Math.abs(v)));
  // By importance, then the features the model never split on (no gain), in
  // their order.
  const rank = new Map(importance.map(([f], i) => [f, i]));
  const ordered = [...data.features].sort((a, b) => (rank.get(a.name) ?? 1e9) - (rank.get(b.name) ?? 1e9));
  const c = data.metrics.confusion;
  return (
    <section>
      <div class="title-row">
        <h1><a href={`/ui/models/${enc(data.name)}`}>{data.name}</a> v{data.version}</h1>
        {data.aliases.map((a) => <span key={a} class="tag">{a}</span>)}
      </div>
      <dl class="facts">
        <dt>model</dt><dd>{data.model_type} <span class="muted">({data.kind} of <code>{data.target}</code>)</span></dd>
        <dt>trained by</dt><dd><a href={`/ui/runs/${enc(l.run_id)}/tasks/${enc(l.task_id)}`}>{l.task_id}</a> try {l.try_number} of run{' '}
          <a href={`/ui/runs/${enc(l.run_id)}`}>{l.run_id}</a> (<a href={`/ui/dags/${enc(l.dag_id)}/code?version=${l.dag_version}`}>{l.dag_id} version {l.dag_version}</a>)</dd>
        <dt>created</dt><dd>{time(data.created_at)}</dd>
        <dt>file</dt><dd><code>{data.file.uri}</code> <span class="muted small">{data.file.format}, {data.file.content_hash}</span></dd>
      </dl>
      <div class="columns">
        <div class="card">
          <h2>Metrics <span class="muted small">(test split)</span></h2>
          <table class="list metrics">
            <tbody>{metrics.map(([k, v]) => <tr key={k} data-metric={k}><td>{k}</td><td class="num">{Number.isInteger(v) ? number(v) : shortNumber(v, 6)}</td></tr>)}</tbody>
          </table>
          {c && <p class="small">confusion: TP {number(c.tp)}, FP {number(c.fp)}, FN {number(c.fn)}, TN {number(c.tn)}</p>}
        </div>
        <div class="card">
          <h2>Parameters</h2>
          <table class="list params">
            <tbody>{Object.entries(data.params).map(([k, v]) => (
              <tr key={k} data-param={k}><td>{k}</td><td><code>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</code></td></tr>
            ))}</tbody>
          </table>
        </div>
      </div>
      <div class="card">
        <h2>Features <span class="muted small">({data.features.length}, in the order the model takes them{importance.length ? '; by importance' : ''})</span></h2>
        <table class="list features">
          <thead><tr><th>feature</th><th>type</th><th>importance</th></tr></thead>
          <tbody>{ordered.map((f) => (
            <tr key={f.name} data-feature={f.name}><td>{f.name}</td><td>{f.type}</td>
              <td>{data.importance && data.importance[f.name] !== undefined && <>
                <span class="bar-inline" style={{ width: `${(120 * Math.abs(data.importance[f.name])) / top}px` }} />{' '}
                <span class="muted small">{shortNumber(data.importance[f.name], 4)}</span></>}
                {importance.length > 0 && data.importance[f.name] === undefined && <span class="muted small">never split on</span>}</td></tr>
          ))}</tbody>
        </table>
      </div>
      {data.transforms.length > 0 && (
        <details class="card">
          <summary><h2 class="inline">Transform chain <span class="muted small">({data.transforms.length} fitted steps, replayed on the rows a prediction gets)</span></h2></summary>
          <pre class="json">{JSON.stringify(data.transforms, null, 2)}</pre>
        </details>
      )}
      <div class="card">
        <h2>Lineage</h2>
        <LineageView path={`/models/${enc(data.name)}/versions/${data.version}`} what={`${data.name} v${data.version}`} />
      </div>
    </section>
  );
}
