import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { enc } from '../api.js';
import { edgePath, layout, NODE_H, NODE_W } from '../layout.js';
import { isFinished, useLiveRun } from '../live.js';
import { navigate } from '../router.js';
import { canOperate, NOT_ALLOWED, useSession } from '../session.js';
import { Action, ErrorBox, Loading, PauseSwitch, shorten, State, Tabs, tickTime, time, useApi, useInterval } from '../util.jsx';
import { TriggerForm } from './trigger.jsx';

const TABS = [['graph', 'Graph'], ['grid', 'Grid'], ['code', 'Code'], ['versions', 'Versions']];

export function DagPage({ dag, tab, query }) {
  const { data, error, reload } = useApi(`/dags/${enc(dag)}`);
  useInterval(reload, 5000);  // the next tick, paused, a new version
  const session = useSession();
  const [trigger, setTrigger] = useState(false);
  const base = `/ui/dags/${enc(dag)}`;
  if (error && !data && error.status === 404) return <GoneDag dag={dag} tab={tab} query={query} error={error} />;
  if (error && !data) return <ErrorBox error={error} />;
  const operate = canOperate(session);
  // The grid needs only the DAG's id: its request goes out with the DAG's.
  return (
    <section>
      {data ? (
        <div class="title-row">
          <h1>{data.dag_id}</h1>
          <span class="muted">{data.description}</span>
          <span class="spacer" />
          <span class="muted small">{data.schedule ? <>schedule <code>{data.schedule}</code>, next {tickTime(data.next_tick, data.timezone) || '—'}</> : data.after?.length ? '' : 'no schedule'}
            {data.after?.length > 0 && <>{data.schedule ? '; or ' : ''}after <code>{data.after.join(', ')}</code>
              {(data.upstream || []).some((u) => u.fresh) && <> (new: {data.upstream.filter((u) => u.fresh).map((u) => u.upstream).join(', ')})</>}</>}</span>
          <PauseSwitch dag={dag} paused={data.paused} operate={operate} label="paused"
            title={operate ? 'pause or resume the schedule' : NOT_ALLOWED} onDone={reload} />
          <Action label="Trigger" kind="primary" disabled={!operate} title={operate ? 'start a run' : NOT_ALLOWED}
            run={async () => setTrigger(true)} />
        </div>
      ) : <div class="title-row"><h1>{dag}</h1></div>}
      <Tabs base={base} current={tab} tabs={TABS} />
      {!TABS.some(([id]) => id === tab) && <p class="error">No page {tab} of a DAG: <a href={`${base}/graph`}>its graph</a></p>}
      {tab === 'grid' && <GridTab dagId={dag} />}
      {tab !== 'grid' && !data && <Loading what={dag} />}
      {data && tab === 'graph' && <GraphTab dag={data} runId={query.get('run')} />}
      {data && tab === 'code' && <CodeTab dag={data} version={query.get('version')} />}
      {data && tab === 'versions' && <VersionsTab dag={data} />}
      {trigger && data && <TriggerForm dag={data} onClose={() => setTrigger(false)} />}
    </section>
  );
}

// A DAG no longer in the DAG folder (removed, renamed) whose runs and
// versions are kept: its code and versions stay readable.
function GoneDag({ dag, tab, query, error }) {
  const { data, error: missing } = useApi(`/dags/${enc(dag)}/versions`);
  if (missing) return <ErrorBox error={error} />;  // never loaded: no such DAG
  if (!data) return <Loading what={dag} />;
  const latest = Math.max(...data.versions.map((v) => v.version));
  const gone = { dag_id: dag, version: latest };
  const base = `/ui/dags/${enc(dag)}`;
  const tabs = TABS.filter(([id]) => id === 'code' || id === 'versions');
  const shown = tabs.some(([id]) => id === tab) ? tab : 'versions';
  return (
    <section>
      <div class="title-row"><h1>{dag}</h1></div>
      <p class="notice" role="status">This DAG is not in the DAG folder any more (its file was removed or names
        another DAG now). Its <a href={`/ui/runs?dag=${enc(dag)}`}>runs</a> and versions are kept.</p>
      <Tabs base={base} current={shown} tabs={tabs} />
      {shown === 'code' && <CodeTab dag={gone} version={query.get('version')} />}
      {shown === 'versions' && <VersionsTab dag={gone} />}
    </section>
  );
}

// ---------------------------------------------------------------- graph

function GraphTab({ dag, runId }) {
  const runs = useApi(`/dags/${enc(dag.dag_id)}/runs?limit=25`);
  useInterval(runs.reload, 5000);  // a run started since (a schedule, pipectl)
  const selected = runId || (runs.data && runs.data.runs[0] ? runs.data.runs[0].run_id : null);
  const { run: last, error } = useLiveRun(selected);
  // The run chosen (not the one before it, while it loads); one of another
  // DAG (an edited URL) colours nothing.
  const found = last && last.run_id === selected ? last : null;
  const run = found && found.dag_id === dag.dag_id ? found : null;
  const states = useMemo(() => new Map((run ? run.tasks : []).map((t) => [t.task_id, t.state])), [run]);
  return (
    <>
      <div class="toolbar">
        <label>Run{' '}
          <select aria-label="run" value={selected || ''} onChange={(e) => navigate(`/ui/dags/${enc(dag.dag_id)}/graph?run=${enc(e.target.value)}`)}>
            {!selected && <option value="">no runs yet</option>}
            {runs.data && runs.data.runs.map((r) => <option key={r.run_id} value={r.run_id}>{r.run_id} ({r.state})</option>)}
            {selected && runs.data && !runs.data.runs.some((r) => r.run_id === selected) && <option value={selected}>{selected}</option>}
          </select>
        </label>
        {run && <> <State state={run.state} /> <a href={`/ui/runs/${enc(run.run_id)}`}>open the run</a></>}
        <span class="muted small">{dag.tasks.length} tasks, {dag.edges.length} dependencies</span>
      </div>
      {error && !found && <ErrorBox error={error} />}
      {found && !run && <p class="error" role="alert">Run {found.run_id} is a run of DAG {found.dag_id}, not of {dag.dag_id}.</p>}
      <Graph dag={dag} states={states} onOpen={(task) => {
        if (run) navigate(`/ui/runs/${enc(run.run_id)}/tasks/${enc(task)}`);
      }} />
    </>
  );
}

// Above CULL_ABOVE tasks only what is in view (and a margin) is drawn, and
// scrolling draws the rest, as a map does: a 2,000-task graph is 13,000 SVG
// elements of which a screen shows a twelfth.
const CULL_ABOVE = 300;
let layouts = 0;  // laid out so far (the svg's data-layout: the browser test sees a layout kept)
const MARGIN = 300;

export function Graph({ dag, states, onOpen }) {
  // Laid out again only when the tasks or their edges change: the page
  // fetches the DAG every 5 s, and dagre takes a third of a second on 150
  // tasks.
  const shape = JSON.stringify([dag.tasks.map((t) => t.task_id), dag.edges]);
  const g = useMemo(() => ({ ...layout(dag.tasks.map((t) => t.task_id), dag.edges), id: ++layouts }), [shape]);
  const box = useRef(null);
  const frame = useRef(0);
  const cull = g.nodes.size > CULL_ABOVE;
  // Fitted to the page's width (a scaled drawing) unless asked for its
  // actual size; a graph that culls is always at its actual size.
  const [actual, setActual] = useState(false);
  const fit = !cull && !actual;
  const [view, setView] = useState({ left: 0, top: 0, width: 1600, height: 1000 });
  const measure = () => {
    frame.current = 0;
    const b = box.current;
    if (b) setView({ left: b.scrollLeft, top: b.scrollTop, width: b.clientWidth, height: b.clientHeight });
  };
  useLayoutEffect(() => { if (cull) measure(); }, [cull]);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  const onScroll = () => { if (cull && !frame.current) frame.current = requestAnimationFrame(measure); };
  const x0 = view.left - MARGIN, x1 = view.left + view.width + MARGIN;
  const y0 = view.top - MARGIN, y1 = view.top + view.height + MARGIN;
  const inView = (ax, ay, bx, by) => !cull || (Math.max(ax, bx) >= x0 && Math.min(ax, bx) <= x1 && Math.max(ay, by) >= y0 && Math.min(ay, by) <= y1);
  const edges = g.edges.filter((e) => {
    const a = e.points[0], b = e.points[e.points.length - 1];
    return inView(a.x, a.y, b.x, b.y);
  });
  const tasks = dag.tasks.filter((t) => {
    const p = g.nodes.get(t.task_id);
    return inView(p.x - NODE_W / 2, p.y - NODE_H / 2, p.x + NODE_W / 2, p.y + NODE_H / 2);
  });
  return (
    <div class="graph-wrap" ref={box} onScroll={onScroll}>
      {!cull && <button class="graph-size" onClick={() => setActual(!actual)}>{actual ? 'Fit to width' : 'Actual size'}</button>}
      <svg class="graph" width={fit ? '100%' : g.width} height={fit ? undefined : g.height} viewBox={`0 0 ${g.width} ${g.height}`}
        style={fit ? { maxWidth: `${g.width}px`, height: 'auto' } : undefined}
        data-nodes={g.nodes.size} data-edges={g.edges.length} data-drawn={tasks.length} data-layout={g.id}>
        <defs>
          <marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0L8,4L0,8z" class="arrowhead" />
          </marker>
        </defs>
        <g class="edges">
          {edges.map((e) => <path key={`${e.from}>${e.to}`} class="edge" d={edgePath(e.points)} marker-end="url(#arrow)" data-edge={`${e.from}>${e.to}`} />)}
        </g>
        <g class="nodes">
          {tasks.map((t) => {
            const p = g.nodes.get(t.task_id);
            const state = states.get(t.task_id) || 'none';
            return (
              <g key={t.task_id} class={`node s-${state}`} transform={`translate(${p.x - NODE_W / 2},${p.y - NODE_H / 2})`}
                data-task={t.task_id} onClick={() => onOpen(t.task_id)} role="link" tabIndex={0}
                aria-label={`${t.task_id} (${t.op}): ${state}`}
                onKeyDown={(e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onOpen(t.task_id); } }}>
                <title>{`${t.task_id} (${t.op}): ${state}`}</title>
                <rect width={NODE_W} height={NODE_H} rx="5" />
                <text x="8" y="14" class="name">{shorten(t.task_id, 22)}</text>
                <text x="8" y="27" class="op">{t.op}{t.map_over ? ' [mapped]' : ''}</text>
              </g>
            );
          })}
        </g>
      </svg>
    </div>
  );
}

// ---------------------------------------------------------------- grid

const ROW_H = 22;

// Runs (oldest left) x tasks: only the rows in view are drawn, so a
// 1,000-task DAG costs what a screenful costs.
function GridTab({ dagId }) {
  const { data, error, reload } = useApi(`/dags/${enc(dagId)}/grid?limit=25`);
  // While a run is open, the grid follows it (one compact request a few seconds).
  useInterval(reload, 3000, !!data && data.runs.some((r) => !isFinished(r.state)));
  const box = useRef(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    if (box.current) setHeight(box.current.clientHeight || 600);
  }, [data]);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what="the grid" />;
  const runs = [...data.runs].map((r, i) => ({ ...r, i })).reverse();
  const first = Math.max(0, Math.floor(top / ROW_H) - 10);
  const last = Math.min(data.tasks.length, Math.ceil((top + height) / ROW_H) + 10);
  const rows = [];
  for (let k = first; k < last; k++) {
    const task = data.tasks[k];
    rows.push(
      <div class="grid-row" key={task} style={{ top: `${k * ROW_H}px` }} data-task={task}>
        <span class="grid-task" title={task}>{task}</span>
        {runs.map((r) => {
          const cell = data.cells[r.i][k];
          // -1: the run's version of the DAG had no such task.
          if (cell < 0) return <span key={r.run_id} class="cell absent" title={`${task} was not in ${r.run_id}'s version of the DAG`} />;
          const s = data.states[cell];
          return <a key={r.run_id} class={`cell s-${s}`} title={`${task} in ${r.run_id}: ${s}`}
            href={`/ui/runs/${enc(r.run_id)}/tasks/${enc(task)}`} />;
        })}
      </div>);
  }
  return (
    <div class="grid">
      <div class="grid-head">
        <span class="grid-task muted">{data.tasks.length} tasks × {data.runs.length} runs</span>
        {runs.map((r) => (
          <a key={r.run_id} class={`cell head s-${r.state}`} title={`${r.run_id}: ${r.state} (${time(r.logical_date)})`}
            href={`/ui/runs/${enc(r.run_id)}`} />
        ))}
      </div>
      <div class="grid-body" ref={box} onScroll={(e) => setTop(e.currentTarget.scrollTop)} data-rows={data.tasks.length}
        style={{ height: `min(70vh, ${data.tasks.length * ROW_H + 8}px)` }}>
        <div style={{ height: `${data.tasks.length * ROW_H}px`, position: 'relative' }}>{rows}</div>
      </div>
    </div>
  );
}

// ---------------------------------------------------------------- code, versions

function CodeTab({ dag, version }) {
  const v = version || dag.version;
  const { data, error } = useApi(`/dags/${enc(dag.dag_id)}/versions/${enc(v)}`);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what="the file" />;
  const lines = data.source.replace(/\n$/, '').split('\n');
  return <CodeLines data={data} lines={lines} v={v} dag={dag} />;
}

// The lines appear after the fetch, when the browser has handled the URL's
// #L12 already: mark that line and bring it into view once they are drawn.
function CodeLines({ data, lines, v, dag }) {
  const [marked, setMarked] = useState(null);
  useEffect(() => {
    const find = () => {
      const m = /^#L(\d+)$/.exec(location.hash);
      setMarked(m ? Number(m[1]) : null);
      if (m) document.getElementById(`L${m[1]}`)?.scrollIntoView({ block: 'center' });
    };
    find();
    window.addEventListener('hashchange', find);
    return () => window.removeEventListener('hashchange', find);
  }, [data]);
  return (
    <>
      <p class="muted small">{data.file}, version {data.version} of {time(data.created_at)}{String(v) !== String(dag.version) && <> (the current is <a href={`/ui/dags/${enc(dag.dag_id)}/code`}>{dag.version}</a>)</>}</p>
      <pre class="code" aria-label="DAG file">
        {lines.map((line, i) => <div key={i} class={marked === i + 1 ? 'line marked' : 'line'} id={`L${i + 1}`}><span class="ln">{i + 1}</span>{line || ' '}</div>)}
      </pre>
    </>
  );
}

function VersionsTab({ dag }) {
  const { data, error } = useApi(`/dags/${enc(dag.dag_id)}/versions`);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what="the versions" />;
  return (
    <table class="list">
      <thead><tr><th>version</th><th>created</th><th>file</th><th>content hash</th></tr></thead>
      <tbody>
        {data.versions.map((v) => (
          <tr key={v.version}>
            <td><a href={`/ui/dags/${enc(dag.dag_id)}/code?version=${v.version}`}>{v.version}</a>{v.version === dag.version && <span class="muted"> (current)</span>}</td>
            <td>{time(v.created_at)}</td><td><code>{v.file}</code></td><td><code>{v.content_hash}</code></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
