// The web UI: a single page reading the REST API (no build step, no assets).

#include "api/api.h"

namespace pipeline {

const std::string& UiPage() {
  static const std::string kPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>piped</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}
.success{color:#17803d}.failed,.upstream_failed{color:#c0262d}.running{color:#0a6ebd}.queued,.pending{color:#777}
button{font-size:12px}#err{color:#c0262d}input{width:260px}
</style></head><body>
<h1>piped</h1>
<div>Token (when the server requires one): <input id="token" type="password"></div>
<p id="err"></p>
<h2>DAGs</h2><table id="dags"><tr><th>DAG</th><th>schedule</th><th>paused</th><th>next tick</th><th>last run</th><th></th></tr></table>
<h2>Recent runs</h2><table id="runs"><tr><th>run</th><th>DAG</th><th>state</th><th>trigger</th><th>logical date</th></tr></table>
<h2 id="run-title"></h2><table id="tasks"></table>
<script>
const $ = id => document.getElementById(id);
const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
async function api(path, opts = {}) {
  const headers = {'Content-Type': 'application/json'};
  if ($('token').value) headers['Authorization'] = 'Bearer ' + $('token').value;
  const r = await fetch('/api/v1' + path, {...opts, headers});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : r.status);
  return body;
}
function row(cells) { return '<tr>' + cells.map(c => '<td>' + c + '</td>').join('') + '</tr>'; }
async function trigger(id) {
  try { await api('/dags/' + id + '/runs', {method: 'POST', body: '{}'}); refresh(); } catch (e) { $('err').textContent = e.message; }
}
async function showRun(id) {
  const run = await api('/runs/' + encodeURIComponent(id));
  $('run-title').textContent = 'Run ' + run.run_id + ' (' + run.state + ')';
  $('tasks').innerHTML = '<tr><th>task</th><th>state</th><th>try</th><th>started</th><th>error</th></tr>' +
    run.tasks.map(t => row([esc(t.task_id), '<span class="' + esc(t.state) + '">' + esc(t.state) + '</span>',
                            esc(t.try) + '/' + esc(t.max_tries), esc(t.started_at), esc(t.error)])).join('');
}
async function refresh() {
  try {
    $('err').textContent = '';
    const d = await api('/dags');
    $('dags').innerHTML = $('dags').rows[0].outerHTML + d.dags.map(x => row([esc(x.dag_id), esc(x.schedule),
      esc(x.paused), esc(x.next_tick), '<span class="' + esc(x.last_run_state) + '">' + esc(x.last_run_state) + '</span>',
      '<button onclick="trigger(\'' + esc(x.dag_id) + '\')">trigger</button>'])).join('');
    const r = await api('/runs?limit=20');
    $('runs').innerHTML = $('runs').rows[0].outerHTML + r.runs.map(x => row([
      '<a href="#" onclick="showRun(\'' + esc(x.run_id) + '\');return false">' + esc(x.run_id) + '</a>',
      esc(x.dag_id), '<span class="' + esc(x.state) + '">' + esc(x.state) + '</span>', esc(x.trigger),
      esc(x.logical_date)])).join('');
  } catch (e) { $('err').textContent = e.message; }
}
refresh(); setInterval(refresh, 3000);
</script></body></html>
)html";
  return kPage;
}

}  // namespace pipeline
