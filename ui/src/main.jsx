import { render } from 'preact';
import './app.css';
import 'uplot/dist/uPlot.min.css';
import { token } from './api.js';
import { interceptLinks, match, navigate, useLocation } from './router.js';
import { refreshSession, useSession } from './session.js';
import { DagsPage } from './pages/dags.jsx';
import { DagPage } from './pages/dag.jsx';
import { LoginPage } from './pages/login.jsx';
import { ModelPage, ModelsPage, ModelVersionPage } from './pages/models.jsx';
import { RunPage, RunsPage } from './pages/run.jsx';
import { TaskPage } from './pages/task.jsx';

const routes = [
  ['/ui/login', () => <LoginPage />],
  ['/ui/dags/:dag/:tab?', (p, q) => <DagPage dag={p.dag} tab={p.tab || 'graph'} query={q} />],
  ['/ui/runs/:run/tasks/:task', (p) => <TaskPage run={p.run} task={p.task} />],
  ['/ui/runs/:run', (p) => <RunPage run={p.run} />],
  ['/ui/runs', (p, q) => <RunsPage query={q} />],
  ['/ui/models/:name/versions/:version', (p) => <ModelVersionPage name={p.name} version={p.version} />],
  ['/ui/models/:name', (p) => <ModelPage name={p.name} />],
  ['/ui/models', () => <ModelsPage />],
  ['/ui/dags', () => <DagsPage />],
  ['/ui', () => <DagsPage />],
];

function Header() {
  const session = useSession();
  const { path } = useLocation();
  const section = path.startsWith('/ui/runs') ? 'runs' : path.startsWith('/ui/models') ? 'models' : 'dags';
  const logout = () => { token.set(''); refreshSession(); navigate('/ui/login'); };
  return (
    <header class="top">
      <a class="brand" href="/ui/dags">piped</a>
      <nav>
        <a href="/ui/dags" class={section === 'dags' ? 'active' : ''}>DAGs</a>
        <a href="/ui/runs" class={section === 'runs' ? 'active' : ''}>Runs</a>
        <a href="/ui/models" class={section === 'models' ? 'active' : ''}>Models</a>
      </nav>
      <span class="who">
        {session && session.role && <span class="role" title="your role">{session.role}</span>}
        {session && session.tokens_required && token.get() && <button class="link" onClick={logout}>log out</button>}
      </span>
    </header>
  );
}

function App() {
  const { path, query } = useLocation();
  const p = path === '/' ? '/ui' : path.replace(/\/+$/, '') || '/ui';
  let page = <p class="error">No page {path}: <a href="/ui/dags">DAGs</a></p>;
  for (const [pattern, make] of routes) {
    const params = match(pattern, p);
    if (params) { page = make(params, query); break; }
  }
  return (
    <>
      <Header />
      <main>{page}</main>
    </>
  );
}

interceptLinks();
refreshSession();
render(<App />, document.getElementById('app'));
