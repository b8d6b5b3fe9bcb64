import { enc } from '../api.js';
import { TrendChart } from '../charts.jsx';
import { ErrorBox, Loading, time, useApi } from '../util.jsx';

export function ModelsPage() {
  const { data, error } = useApi('/models');
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
  const { data, error } = useApi(`/models/${enc(name)}`);
  if (error) return <ErrorBox error={error} />;
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
      </div>
      {versions.length > 1 && (
        <div class="card"><h2>Metrics across versions</h2>
          <TrendChart labels={versions.map((v) => `v${v.version}`)} series={metricNames.map((m) => [m, versions.map((v) => v.metrics[m] ?? null)])} />
        </div>
      )}
      <h2>Versions</h2>
      <div class="scroll-x">
        <table class="list versions">
          <thead><tr><th>version</th><th>aliases</th><th>type</th><th>trained by</th><th>created</th>{metricNames.map((m) => <th key={m}>{m}</th>)}{classifier && <th title="on the test rows">confusion</th>}<th>train rows</th><th>validation rows</th><th>test rows</th></tr></thead>
          <tbody>
            {[...versions].reverse().map((v) => (
              <tr key={v.version} class={v.version === serving ? 'serving' : ''} data-version={v.version}>
                <td>v{v.version}</td>
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
