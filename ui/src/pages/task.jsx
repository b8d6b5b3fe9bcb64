import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { isFinished, useLiveRun } from '../live.js';
import { canOperate, NOT_ALLOWED, useSession } from '../session.js';
import { Action, currentTry, DataTable, duration, ErrorBox, Linked, Loading, number, shortNumber, State, time, useApi, useModelNames } from '../util.jsx';
import { LineageView } from '../lineage.jsx';
import { Bars, TrendChart } from '../charts.jsx';

export function TaskPage({ run: runId, task: taskId }) {
  const { run, error, live, reload } = useLiveRun(runId);
  const session = useSession();
  const models = useModelNames();
  if (error && !run) return <ErrorBox error={error} />;
  if (!run) return <Loading what={taskId} />;
  const task = run.tasks.find((t) => t.task_id === taskId);
  if (!task) return <ErrorBox error={{ message: `run ${runId} has no task ${taskId}` }} />;
  const operate = canOperate(session);
  const byName = new Map(task.artifacts.map((a) => [a.name, a]));
  const m = task.metrics || {};
  // A mapped task's own try only expands it: its instances have the logs.
  const mapped = run.tasks.some((t) => t.map_index !== undefined && t.task_id.startsWith(`${task.task_id}[`));
  return (
    <section>
      <div class="title-row">
        <h1>{task.task_id}</h1>
        <State state={task.state} />
        <span class="muted">of <a href={`/ui/runs/${enc(run.run_id)}`}>{run.run_id}</a> (<a href={`/ui/dags/${enc(run.dag_id)}/graph?run=${enc(run.run_id)}`}>{run.dag_id}</a>)</span>
        <span class={`live ${live}`}>{isFinished(run.state) ? '' : live === 'live' ? '● live' : live}</span>
        <span class="spacer" />
        <Action label="Clear" disabled={!operate || !isFinished(run.state)}
          title={!operate ? NOT_ALLOWED : isFinished(run.state) ? 'run this task again' : 'the run has not ended: tasks are cleared once it has'}
          run={async () => { await api.post(`/runs/${enc(run.run_id)}/tasks/${enc(task.task_id)}/clear`, { downstream: false }); reload(); }} />
      </div>
      <dl class="facts">
        {task.map_index !== undefined && <><dt>item</dt><dd>{task.map_item} <span class="muted small">(instance {task.map_index})</span></dd></>}
        <dt>try</dt><dd>{task.try} of {task.max_tries}</dd>
        {task.state === 'waiting' && task.next_try_at && <><dt>next check</dt><dd>{time(task.next_try_at)}</dd></>}
        <dt>started</dt><dd>{time(currentTry(task).started) || '—'}</dd>
        <dt>duration</dt><dd>{duration(currentTry(task).started, currentTry(task).ended)}</dd>
        {m.rows_in !== undefined && <><dt>rows in</dt><dd>{number(m.rows_in)}</dd></>}
        {m.rows_out !== undefined && <><dt>rows out</dt><dd>{number(m.rows_out)}</dd></>}
        {m.rows_quarantined !== undefined && <><dt>quarantined</dt><dd>{number(m.rows_quarantined)}</dd></>}
        {m.bytes_out !== undefined && <><dt>output size</dt><dd>{number(m.bytes_out)} bytes</dd></>}
        {m.summary && <><dt>summary</dt><dd><Linked text={m.summary} models={models} /></dd></>}
        {task.error && (task.state === 'skipped' ? <><dt>why skipped</dt><dd><Linked text={task.error} /></dd></>
          : <><dt>error</dt><dd class="error inline"><Linked text={task.error} /></dd></>)}
      </dl>
      <Instances run={run} task={task} />
      {byName.has('report') && <ValidationReport run={run} task={task} />}
      {byName.has('quarantine') && <Quarantine run={run} task={task} />}
      {byName.has('drift') && <DriftReport run={run} task={task} />}
      {m.gauges && <DriftHistory dag={run.dag_id} task={task.task_id} />}
      {task.artifacts.length > 0 && <Artifacts run={run} task={task} />}
      {!mapped && <><h2>Log</h2>
        <Tries run={run} task={task} /></>}
    </section>
  );
}

// The instances of a mapped task (map_over), on its own page.
function Instances({ run, task }) {
  const instances = run.tasks.filter((t) => t.map_index !== undefined && t.task_id.startsWith(`${task.task_id}[`));
  if (!instances.length) return null;
  return (
    <div class="card">
      <h2>Instances</h2>
      <table class="list">
        <thead><tr><th>instance</th><th>item</th><th>state</th><th>tries</th><th>detail</th></tr></thead>
        <tbody>
          {instances.map((t) => (
            <tr key={t.task_id}>
              <td><a href={`/ui/runs/${enc(run.run_id)}/tasks/${enc(t.task_id)}`}>{t.task_id}</a></td>
              <td>{t.map_item}</td><td><State state={t.state} /></td><td>{t.try}/{t.max_tries}</td>
              <td class="detail">{t.error ? <span class="error inline">{t.error}</span> : (t.metrics && t.metrics.summary) || ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// ---------------------------------------------------------------- logs

function Tries({ run, task }) {
  const [chosen, setChosen] = useState(null);
  if (!task.tries.length) return <p class="muted">The task has not started.</p>;
  const current = chosen || task.tries[task.tries.length - 1].try;
  const tr = task.tries.find((t) => t.try === current) || task.tries[task.tries.length - 1];
  return (
    <>
      <div class="toolbar">
        {task.tries.map((t) => (
          <button key={t.try} class={t.try === tr.try ? 'chosen' : ''} onClick={() => setChosen(t.try)}>
            try {t.try} <State state={t.state} />
          </button>
        ))}
        <span class="muted small">{tr.worker && `on ${tr.worker}`} {tr.exit_code !== null && tr.exit_code !== undefined &&
          !(tr.error || '').includes(`status ${tr.exit_code}`) && `exit ${tr.exit_code}`} {tr.error}</span>
      </div>
      <LogView key={`${run.run_id}/${task.task_id}/${tr.try}`} run={run.run_id} task={task.task_id} tryNumber={tr.try}
        running={tr.state === 'running' || tr.state === 'waiting'} />
    </>
  );
}

// The log as it grows: reads from where the last read ended while the try
// runs, once more when it ends.
// A long log opens at its end (the last LOG_TAIL bytes, from a line's
// start), with a button for the whole of it.
const LOG_TAIL = 1 << 20;

function LogView({ run, task, tryNumber, running }) {
  const [text, setText] = useState('');
  const [error, setError] = useState(null);
  const [skipped, setSkipped] = useState(0);  // bytes before the text shown
  const [whole, setWhole] = useState(false);
  const offset = useRef(0);
  // One decoder for the whole log: a character cut between two reads is
  // held back until its other bytes come.
  const decoder = useRef(null);
  if (!decoder.current) decoder.current = new TextDecoder();
  const box = useRef(null);
  const follow = useRef(true);
  // Bumped by "show the whole log": a read still under way for the tail
  // then changes nothing.
  const generation = useRef(0);
  useEffect(() => {
    let gone = false;
    let timer = null;
    const mine = generation.current;
    const stale = () => gone || mine !== generation.current;
    const read = async () => {
      try {
        const first = offset.current === 0;
        const { bytes, start, next } = await api.log(run, task, tryNumber, offset.current, first && !whole ? LOG_TAIL : 0);
        if (stale()) return;
        offset.current = next;
        let shown = bytes;
        if (first && start > 0) {  // cut: show from the next line on (a tail without one shows whole)
          const line = bytes.indexOf(10);
          if (line >= 0) shown = bytes.subarray(line + 1);
          setSkipped(start + (bytes.length - shown.length));
        }
        const more = decoder.current.decode(shown, { stream: running });
        if (more) setText((t) => t + more);
        setError(null);
      } catch (e) {
        if (!stale()) setError(e);
      }
      if (!stale() && running) timer = setTimeout(read, 1000);
    };
    read();
    return () => { gone = true; clearTimeout(timer); };
  }, [run, task, tryNumber, running, whole]);
  useEffect(() => {
    if (box.current && follow.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text]);
  const showWhole = () => {
    generation.current++;
    offset.current = 0;
    decoder.current = new TextDecoder();
    follow.current = false;
    setText('');
    setSkipped(0);
    setWhole(true);
  };
  return (
    <>
      <ErrorBox error={error} />
      {skipped > 0 && <p class="muted small log-cut">The first {number(skipped)} bytes of this log are not shown.{' '}
        <button onClick={showWhole}>Show the whole log</button></p>}
      <pre class="log" ref={box} aria-label="log" data-following={running ? 'yes' : 'no'}
        onScroll={(e) => { const b = e.currentTarget; follow.current = b.scrollTop + b.clientHeight >= b.scrollHeight - 4; }}>
        {text || <span class="muted">{running ? 'waiting for output…' : '(no output)'}</span>}
      </pre>
    </>
  );
}

// ---------------------------------------------------------------- data

const rowsPath = (run, task, name, limit = 100, offset = 0) =>
  `/runs/${enc(run.run_id)}/tasks/${enc(task.task_id)}/artifacts/${enc(name)}/rows?limit=${limit}&offset=${offset}`;
const docPath = (run, task, name) => `/runs/${enc(run.run_id)}/tasks/${enc(task.task_id)}/artifacts/${enc(name)}`;

function Quarantine({ run, task }) {
  const { data, error } = useApi(rowsPath(run, task, 'quarantine'));
  return (
    <div class="card quarantine">
      <h2>Quarantined rows {data && <span class="muted small">(first {data.rows.length} of {number(data.total_rows)})</span>}</h2>
      <ErrorBox error={error} />
      {data && <DataTable columns={data.columns.map((c) => c.name)} rows={data.rows}
        cellClass={(j) => (data.columns[j].name.startsWith('_') ? 'meta' : '')} />}
    </div>
  );
}

function ValidationReport({ run, task }) {
  const { data, error } = useApi(docPath(run, task, 'report'));
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  const r = data.content;
  return (
    <div class="card report">
      <h2>Validation report <span class={r.passed ? 's-success state' : 's-failed state'}>{r.passed ? 'passed' : 'failed'}</span></h2>
      <p class="muted small">{number(r.rows)} rows, {number(r.rows_failed)} failed ({((r.failure_rate || 0) * 100).toFixed(2)}%, at most {((r.max_failure_rate || 0) * 100).toFixed(2)}%), on failure: {r.on_failure}</p>
      <table class="list">
        <thead><tr><th>check</th><th>checked</th><th>failed</th><th>examples</th></tr></thead>
        <tbody>
          {r.checks.map((c, i) => (
            <tr key={i} class={c.rows_failed ? 'bad' : ''}><td>{c.check}</td><td class="num">{number(c.rows_checked)}</td>
              <td class="num">{number(c.rows_failed)}</td><td>{(c.examples || []).map((e, k) => <code key={k} class="example">{e}</code>)}</td></tr>
          ))}
          {(r.table_checks || []).map((c, i) => (
            <tr key={`t${i}`} class={c.passed ? '' : 'bad'}><td>{c.check}</td><td colspan="2"><State state={c.passed ? 'success' : 'failed'} /></td>
              <td class="muted small">{Object.entries(c).filter(([k]) => !['check', 'passed'].includes(k)).map(([k, v]) => `${k} ${v}`).join(', ')}</td></tr>
          ))}
        </tbody>
      </table>
      <h3>Column profile</h3>
      <table class="list profile">
        <thead><tr><th>column</th><th>type</th><th>nulls</th><th>distinct</th><th>min</th><th>mean</th><th>max</th><th>distribution</th></tr></thead>
        <tbody>
          {Object.entries(r.profile).map(([name, p]) => (
            <tr key={name} data-column={name}>
              <td>{name}</td><td>{p.type}</td><td class="num">{number(p.nulls)}</td><td class="num">{number(p.distinct_estimate)}</td>
              <td class="num">{p.min ?? ''}</td><td class="num">{p.mean !== undefined ? shortNumber(p.mean, 6) : ''}</td><td class="num">{p.max ?? ''}</td>
              <td>{p.histogram && <Bars counts={p.histogram.counts} title={`${p.histogram.sampled} values sampled, ${p.histogram.counts.length} bins from ${p.min} to ${p.max}`} />}
                {p.top && <TopValues top={p.top} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function TopValues({ top }) {
  const max = Math.max(1, ...top.values.map(([, n]) => n));
  return (
    <div class="top" title={`${top.sampled} values sampled`}>
      {top.values.map(([v, n]) => (
        <div key={v} class="top-row"><span class="top-bar" style={{ width: `${(60 * n) / max}px` }} /><span>{v}</span> <span class="muted">{n}</span></div>
      ))}
    </div>
  );
}

// A histogram's legend: each bin's range (numeric: the reference's cuts) or
// category, and its count.
function binsTitle(side, c) {
  const counts = side === 'reference' ? c.reference_bins : c.current_bins;
  const names = c.categories ? [...c.categories, '(new)']
    : c.cuts ? counts.map((_, i) => `${i === 0 ? '…' : c.cuts[i - 1]} to ${i < c.cuts.length ? c.cuts[i] : '…'}`)
      : counts.map((_, i) => `bin ${i + 1}`);
  return `${side}: ${counts.map((n, i) => `${names[i] ?? `bin ${i + 1}`}: ${n}`).join('; ')}`;
}

function DriftReport({ run, task }) {
  const { data, error } = useApi(docPath(run, task, 'drift'));
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  const r = data.content;
  return (
    <div class="card drift">
      <h2>Drift</h2>
      <p class="muted small">{number(r.rows.current)} rows against {number(r.rows.reference)} reference rows; thresholds psi {r.thresholds.psi}, ks {r.thresholds.ks}, js {r.thresholds.js}</p>
      <table class="list">
        <thead><tr><th>column</th><th>kind</th><th>PSI</th><th>KS / JS</th><th>null rate</th><th>reference vs current</th><th /></tr></thead>
        <tbody>
          {r.columns.map((c) => (
            <tr key={c.column} class={c.drifted ? 'bad' : ''} data-column={c.column}>
              <td>{c.column}</td><td>{c.kind}</td><td class="num">{c.psi.toFixed(4)}</td>
              <td class="num">{(c.kind === 'numeric' ? c.ks : c.js).toFixed(4)}</td>
              <td class="num">{(c.reference_null_rate * 100).toFixed(1)}% → {(c.current_null_rate * 100).toFixed(1)}%</td>
              <td><Bars counts={c.reference_bins} title={binsTitle('reference', c)} />{' '}
                <Bars counts={c.current_bins} kind="current" title={binsTitle('current', c)} /></td>
              <td>{c.drifted ? <State state="failed" /> : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// Drift per column over the DAG's runs (the monitor's gauges).
// "20261205T190853-f725c2de" -> "12-05 19:08": what tells runs apart on
// an axis (the full id is in the point's legend).
const runLabel = (id) => {
  const m = /^\d{4}(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)/.exec(id);
  return m ? `${m[1]}-${m[2]} ${m[3]}:${m[4]}:${m[5]}` : id;
};

function DriftHistory({ dag, task }) {
  const { data } = useApi(`/dags/${enc(dag)}/tasks/${enc(task)}/history?limit=50`);
  // Made once per answer: the page re-renders each second while a run
  // goes on, and new arrays would rebuild the chart (losing its hover).
  const chart = useMemo(() => {
    if (!data) return null;
    const runs = [...data.runs].reverse().filter((r) => r.metrics.gauges);
    if (runs.length < 1) return null;
    const series = new Map();
    runs.forEach((r, i) => {
      for (const g of r.metrics.gauges) {
        if (g.name !== 'pipe_drift_psi') continue;
        if (!series.has(g.column)) series.set(g.column, new Array(runs.length).fill(null));
        series.get(g.column)[i] = g.value;
      }
    });
    return { runs, labels: runs.map((r) => runLabel(r.run_id)), series: [...series.entries()] };
  }, [data]);
  if (!chart) return null;
  return (
    <div class="card">
      <h2>PSI per column over the last {chart.runs.length} runs</h2>
      <TrendChart labels={chart.labels} series={chart.series} />
    </div>
  );
}

function Artifacts({ run, task }) {
  const [open, setOpen] = useState(null);
  const [traced, setTraced] = useState(null);  // the artifact whose lineage is shown
  return (
    <div class="card artifacts">
      <h2>Artifacts</h2>
      <table class="list">
        <thead><tr><th>name</th><th>rows</th><th>schema</th><th>content hash</th><th /></tr></thead>
        <tbody>
          {task.artifacts.map((a) => (
            <tr key={a.name} data-artifact={a.name}>
              <td>{a.name}</td>
              <td class="num">{a.columns.length ? number(a.rows) : ''}</td>
              <td class="small">{a.columns.map((c) => `${c.name} ${c.type}`).join(', ') || a.uri.split('/').pop()}</td>
              <td><code>{a.content_hash}</code></td>
              <td class="nowrap"><button onClick={() => setOpen(open === a.name ? null : a.name)}>{open === a.name ? 'Hide' : a.columns.length ? 'Preview' : 'Show'}</button>{' '}
                <button class="lineage-button" onClick={() => setTraced(traced === a.name ? null : a.name)}>{traced === a.name ? 'Hide lineage' : 'Lineage'}</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {open && <ArtifactView run={run} task={task} artifact={task.artifacts.find((a) => a.name === open)} />}
      {traced && <div class="preview"><h3>What {traced} was made from</h3>
        <LineageView path={`/runs/${enc(run.run_id)}/tasks/${enc(task.task_id)}/artifacts/${enc(traced)}`} what={traced} /></div>}
    </div>
  );
}

function ArtifactView({ run, task, artifact }) {
  const table = artifact.uri.endsWith('.parquet');
  const { data, error } = useApi(table ? rowsPath(run, task, artifact.name) : docPath(run, task, artifact.name));
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what={artifact.name} />;
  if (!table) return <pre class="json">{JSON.stringify(data.content, null, 2)}</pre>;
  return (
    <div class="preview">
      <p class="muted small">{artifact.name}: rows 1 to {data.rows.length} of {number(data.total_rows)}</p>
      <DataTable columns={data.columns.map((c) => c.name)} rows={data.rows} />
    </div>
  );
}
