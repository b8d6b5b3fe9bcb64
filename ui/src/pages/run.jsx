import { api, enc } from '../api.js';
import { isFinished, useLiveRun } from '../live.js';
import { navigate } from '../router.js';
import { canOperate, NOT_ALLOWED, useSession } from '../session.js';
import { Action, currentTry, duration, ErrorBox, Linked, Loading, number, shorten, State, time, useApi, useInterval, useModelNames } from '../util.jsx';

// Newest first, a page at a time (?limit=, ?offset=), by state and DAG.
export function RunsPage({ query }) {
  const state = query.get('state') || '';
  const dag = query.get('dag') || '';
  const limit = Math.min(1000, Math.max(1, Number(query.get('limit')) || 100));
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const filter = `${state ? `&state=${enc(state)}` : ''}${dag ? `&dag_id=${enc(dag)}` : ''}`;
  const { data, error, reload } = useApi(`/runs?limit=${limit}&offset=${offset}${filter}`);
  const dags = useApi('/dags');
  useInterval(reload, 5000);
  const page = (changes) => {
    const q = new URLSearchParams({ state, dag, limit: String(limit), offset: String(offset), ...changes });
    for (const [k, v] of [...q.entries()]) if (!v || (k === 'limit' && v === '100') || (k === 'offset' && v === '0')) q.delete(k);
    const s = q.toString();
    return `/ui/runs${s ? `?${s}` : ''}`;
  };
  return (
    <section>
      <div class="title-row">
        <h1>Runs</h1>
        <span class="spacer" />
        <label>DAG{' '}
          <select aria-label="dag" value={dag} onChange={(e) => navigate(page({ dag: e.target.value, offset: '0' }))}>
            <option value="">any</option>
            {dags.data && dags.data.dags.map((d) => <option key={d.dag_id} value={d.dag_id}>{d.dag_id}</option>)}
            {dag && dags.data && !dags.data.dags.some((d) => d.dag_id === dag) && <option value={dag}>{dag} (not loaded)</option>}
          </select>
        </label>
        <label>State{' '}
          <select aria-label="state" value={state} onChange={(e) => navigate(page({ state: e.target.value, offset: '0' }))}>
            <option value="">any</option>
            {['queued', 'running', 'success', 'failed', 'cancelled'].map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
      </div>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="runs" />}
      {data && (
        <div class="scroll-x"><table class="list runs">
          <thead><tr><th>run</th><th>DAG</th><th>state</th><th>trigger</th><th>logical date</th><th>duration</th></tr></thead>
          <tbody>
            {data.runs.map((r) => (
              <tr key={r.run_id}>
                <td><a href={`/ui/runs/${enc(r.run_id)}`}>{r.run_id}</a></td>
                <td><a href={`/ui/dags/${enc(r.dag_id)}`}>{r.dag_id}</a></td>
                <td><State state={r.state} /></td>
                <td>{r.trigger}</td>
                <td>{time(r.logical_date)}</td>
                <td>{duration(r.started_at, r.ended_at)}</td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
      {data && (
        <p class="muted small pager">
          {data.runs.length ? `${number(offset + 1)}–${number(offset + data.runs.length)}` : 'none'} of {number(data.total)} runs
          {offset > 0 && <> · <a href={page({ offset: String(Math.max(0, offset - limit)) })} rel="prev">newer</a></>}
          {offset + data.runs.length < data.total && <> · <a href={page({ offset: String(offset + limit) })} rel="next">older</a></>}
        </p>
      )}
    </section>
  );
}

export function RunPage({ run: runId }) {
  const { run, error, live, reload } = useLiveRun(runId);
  const session = useSession();
  if (error && !run) return <ErrorBox error={error} />;
  if (!run) return <Loading what={runId} />;
  const operate = canOperate(session);
  const finished = isFinished(run.state);
  return (
    <section>
      <div class="title-row">
        <h1>{run.run_id}</h1>
        <State state={run.state} />
        <span class={`live ${live}`} title="live updates from GET /api/v1/events">{finished ? '' : live === 'live' ? '● live' : live}</span>
        <span class="spacer" />
        <Action label="Cancel run" kind="danger" disabled={!operate || finished}
          title={operate ? 'cancel every unfinished task' : NOT_ALLOWED} confirm={`Cancel run ${run.run_id}?`}
          run={async () => { await api.post(`/runs/${enc(run.run_id)}/cancel`); reload(); }} />
      </div>
      {error && <ErrorBox error={error} />}
      <dl class="facts">
        <dt>DAG</dt><dd><a href={`/ui/dags/${enc(run.dag_id)}/graph?run=${enc(run.run_id)}`}>{run.dag_id}</a> (version {run.dag_version})</dd>
        <dt>logical date</dt><dd>{time(run.logical_date)}</dd>
        {run.rerun_of && <><dt>rerun of</dt><dd><a href={`/ui/runs/${enc(run.rerun_of)}`}>{run.rerun_of}</a></dd></>}
        {run.triggered_by && <><dt>triggered by</dt><dd>task <a href={`/ui/runs/${enc(run.triggered_by.run_id)}/tasks/${enc(run.triggered_by.task_id)}`}>{run.triggered_by.task_id}</a>
          {' '}of run <a href={`/ui/runs/${enc(run.triggered_by.run_id)}`}>{run.triggered_by.run_id}</a> (trigger_dag)</dd></>}
        <dt>started</dt><dd>{time(run.started_at) || '—'}</dd>
        <dt>duration</dt><dd>{duration(run.started_at, run.ended_at)}</dd>
        <dt>params</dt><dd><code>{JSON.stringify(run.params)}</code></dd>
        {run.sla_misses?.length > 0 && <><dt>SLA</dt><dd class="sla-misses">{run.sla_misses.map((m) => (
          <div key={m.task_id}><span class="sla-miss">missed</span> {m.task_id ? <>task <b>{m.task_id}</b></> : <b>deadline</b>}
            {' '}due {time(m.due)}, {m.state} then</div>
        ))}</dd></>}
      </dl>
      <h2>Timeline</h2>
      <Gantt run={run} />
      <h2>Tasks</h2>
      <TaskTable run={run} operate={operate} reload={reload} />
    </section>
  );
}

// Every try as a bar from its start to its end (now while it runs).
function Gantt({ run }) {
  const tries = [];
  for (const t of run.tasks) for (const tr of t.tries) tries.push({ task: t.task_id, ...tr });
  if (!tries.length) return <p class="muted">No task has started yet.</p>;
  const t0 = Math.min(...tries.map((t) => Date.parse(t.started_at)));
  const now = Date.now();
  const end = (t) => (t.ended_at ? Date.parse(t.ended_at) : now);
  const t1 = Math.max(t0 + 1, ...tries.map(end));
  const tasks = [...new Set(tries.map((t) => t.task))];
  const row = new Map(tasks.map((t, i) => [t, i]));
  const W = 900, label = 170, H = 18;
  const x = (ms) => label + ((ms - t0) / (t1 - t0)) * (W - label - 10);
  return (
    <div class="scroll-x">
      <svg class="gantt" width={W} height={tasks.length * H + 24} aria-label="timeline">
        {tasks.map((t, i) => (
          <a key={t} href={`/ui/runs/${enc(run.run_id)}/tasks/${enc(t)}`} class="gantt-link">
            <title>{t}</title>
            <rect class="hit" x="0" y={i * H} width={label - 6} height={H} />
            <text x="4" y={i * H + 13} class="gantt-label">{shorten(t, 24)}</text>
          </a>
        ))}
        {tries.map((t) => (
          <rect key={`${t.task}.${t.try}`} class={`bar s-${t.state}`} x={x(Date.parse(t.started_at))} y={row.get(t.task) * H + 3}
            width={Math.max(2, x(end(t)) - x(Date.parse(t.started_at)))} height={H - 6}>
            <title>{`${t.task} try ${t.try}: ${t.state}, ${duration(t.started_at, t.ended_at)}`}</title>
          </rect>
        ))}
        <text x={label} y={tasks.length * H + 18} class="axis">0</text>
        <text x={W - 10} y={tasks.length * H + 18} class="axis" text-anchor="end">{duration(new Date(t0).toISOString(), new Date(t1).toISOString())}</text>
      </svg>
    </div>
  );
}

// What the API says of a clear while the run goes on (409).
const RUN_NOT_ENDED = 'the run has not ended: tasks are cleared once it has';

function TaskTable({ run, operate, reload }) {
  const models = useModelNames();
  const missed = new Map((run.sla_misses || []).filter((m) => m.task_id).map((m) => [m.task_id, m]));
  const clear = (task, downstream) => async () => {
    await api.post(`/runs/${enc(run.run_id)}/tasks/${enc(task)}/clear`, { downstream });
    reload();
  };
  return (
    <div class="scroll-x"><table class="list tasks">
      <thead><tr><th>task</th><th>state</th><th>tries</th><th>started</th><th>duration</th><th>rows in</th><th>rows out</th><th>detail</th><th /></tr></thead>
      <tbody>
        {run.tasks.map((t) => (
          <tr key={t.task_id} data-task={t.task_id}>
            <td><a href={`/ui/runs/${enc(run.run_id)}/tasks/${enc(t.task_id)}`}>{t.task_id}</a>{t.map_item !== undefined && t.map_item !== '' && <span class="muted small"> {t.map_item}</span>}
              {missed.has(t.task_id) && <span class="sla-miss" title={`due ${time(missed.get(t.task_id).due)}`}>SLA missed</span>}</td>
            <td><State state={t.state} /></td>
            <td>{t.try}/{t.max_tries}</td>
            <td>{time(currentTry(t).started)}</td>
            <td>{duration(currentTry(t).started, currentTry(t).ended)}</td>
            <td class="num">{number(t.metrics.rows_in)}</td>
            <td class="num">{number(t.metrics.rows_out)}</td>
            <td class="detail">{t.error ? <span class={t.state === 'skipped' ? 'muted' : 'error inline'}><Linked text={t.error} /></span>
              : <Linked text={t.metrics.summary || ''} models={models} />}
              {t.state === 'waiting' && t.next_try_at && <span class="muted small"> · next check {time(t.next_try_at)}</span>}</td>
            <td class="nowrap">
              <Action label="Clear" disabled={!operate || !isFinished(run.state)}
                title={!operate ? NOT_ALLOWED : isFinished(run.state) ? 'run this task again' : RUN_NOT_ENDED} run={clear(t.task_id, false)} />
              <Action label="+ downstream" disabled={!operate || !isFinished(run.state)}
                title={!operate ? NOT_ALLOWED : isFinished(run.state) ? 'run this task and everything after it again' : RUN_NOT_ENDED}
                run={clear(t.task_id, true)} />
            </td>
          </tr>
        ))}
      </tbody>
    </table></div>
  );
}
