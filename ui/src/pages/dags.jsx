import { useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { canOperate, NOT_ALLOWED, useSession } from '../session.js';
import { Action, ErrorBox, Loading, PauseSwitch, Square, State, tickTime, useApi, useInterval } from '../util.jsx';
import { TriggerForm } from './trigger.jsx';

// Fetched again when the DAG's last run changes (the list polls the DAGs).
function LastRuns({ dag, last }) {
  const { data } = useApi(`/runs?dag_id=${enc(dag)}&limit=10`, [last]);
  if (!data) return null;
  return (
    <span class="squares">
      {[...data.runs].reverse().map((r) => (
        <Square key={r.run_id} state={r.state} title={`${r.run_id}: ${r.state}`} href={`/ui/runs/${enc(r.run_id)}`} />
      ))}
    </span>
  );
}

export function DagsPage() {
  const { data, error, reload } = useApi('/dags');
  const session = useSession();
  const [trigger, setTrigger] = useState(null);  // the DAG detail being triggered
  useInterval(reload, 5000);
  const operate = canOperate(session);
  const open = async (id) => setTrigger(await api.get(`/dags/${enc(id)}`));
  return (
    <section>
      <h1>DAGs</h1>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="DAGs" />}
      {data && data.load_errors.length > 0 && (
        <div class="card load-errors">
          <h2>Files that did not load</h2>
          <ul>
            {data.load_errors.map((e, i) => (
              <li key={i}><code>{e.line > 0 ? `${e.file}:${e.line}:${e.column}` : e.file}</code>: {e.message}</li>
            ))}
          </ul>
        </div>
      )}
      {data && (
        <div class="scroll-x"><table class="list dags">
          <thead><tr><th>DAG</th><th>schedule</th><th>next tick</th><th>last runs</th><th>last run</th><th>paused</th><th /></tr></thead>
          <tbody>
            {data.dags.map((d) => (
              <tr key={d.dag_id} data-dag={d.dag_id}>
                <td><a href={`/ui/dags/${enc(d.dag_id)}`}><b>{d.dag_id}</b></a><div class="muted small">{d.description}</div></td>
                <td><code>{d.schedule || (d.after?.length ? '' : '—')}</code>{d.schedule && <span class="muted small"> {d.timezone}</span>}
                  {d.after?.length > 0 && <div class="muted small">{d.schedule ? 'or ' : ''}after {d.after.join(', ')}</div>}</td>
                <td>{tickTime(d.next_tick, d.timezone) || '—'}</td>
                <td><LastRuns dag={d.dag_id} last={`${d.last_run_id}:${d.last_run_state}`} /></td>
                <td>{d.last_run_id ? <a href={`/ui/runs/${enc(d.last_run_id)}`}><State state={d.last_run_state} /></a> : '—'}</td>
                <td>
                  <PauseSwitch dag={d.dag_id} paused={d.paused} operate={operate} label={`paused ${d.dag_id}`}
                    title={operate ? 'pause or resume the schedule' : NOT_ALLOWED} onDone={reload} />
                </td>
                <td><Action label="Trigger" kind="primary" disabled={!operate} title={operate ? 'start a run' : NOT_ALLOWED}
                  run={() => open(d.dag_id)} /></td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
      {trigger && <TriggerForm dag={trigger} onClose={() => setTrigger(null)} />}
    </section>
  );
}
