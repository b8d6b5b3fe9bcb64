// Lineage trees (GET /api/v1/lineage/...): what an artifact or a model
// version was made from, back to its source files and database queries,
// each step a link to the task page that made it.
import { enc } from './api.js';
import { ErrorBox, Loading, number, useApi } from './util.jsx';

const shortHash = (h) => (h ? h.replace(/^xxh3:/, '').slice(0, 8) : '');
const taskHref = (run, task) => `/ui/runs/${enc(run)}/tasks/${enc(task)}`;

function NodeLine({ node }) {
  const flags = (
    <>
      {node.missing && <span class="tag bad" title="the store no longer has this artifact">missing</span>}
      {node.changed && <span class="tag bad" title={`rewritten after it was read; what was read had ${node.read_hash}`}>changed since</span>}
      {node.seen && <span class="muted small"> (shown above)</span>}
    </>
  );
  switch (node.kind) {
    case 'model':
      return (
        <span class="node-line"><span class="kind">model</span>{' '}
          <a href={`/ui/models/${enc(node.name)}/versions/${node.version}`}>{node.name} v{node.version}</a>
          {node.run && <span class="muted small"> trained by <a href={taskHref(node.run, node.task)}>{node.task}</a> of {node.run}</span>}
          {flags}</span>
      );
    case 'artifact':
      return (
        <span class="node-line"><span class="kind">table</span>{' '}
          <a href={taskHref(node.run, node.task)}>{node.task}</a>
          {node.name !== 'output' && <span class="muted">.{node.name}</span>}
          <span class="muted small"> of run <a href={`/ui/runs/${enc(node.run)}`}>{node.run}</a>
            {node.rows ? `, ${number(node.rows)} rows` : ''}{node.hash ? `, ${shortHash(node.hash)}` : ', not persisted'}</span>
          {flags}</span>
      );
    case 'file':
      return (
        <span class="node-line"><span class="kind">file</span> <code>{node.path}</code>
          <span class="muted small">{node.hash ? ` ${shortHash(node.hash)}` : ''}</span>{flags}</span>
      );
    case 'query':
      return (
        <span class="node-line"><span class="kind">query</span> <code>{node.source}</code>: <code class="query">{node.query}</code>
          {node.watermark && <span class="muted small"> past {node.watermark}</span>}{flags}</span>
      );
    default:
      return <span class="node-line">{node.kind}{flags}</span>;
  }
}

function Node({ node, depth }) {
  const inputs = node.inputs || [];
  return (
    <li data-kind={node.kind}>
      {inputs.length ? (
        <details open={depth < 6}>
          <summary><NodeLine node={node} /></summary>
          <ul>{inputs.map((n, i) => <Node key={i} node={n} depth={depth + 1} />)}</ul>
        </details>
      ) : <NodeLine node={node} />}
    </li>
  );
}

export function LineageTree({ tree }) {
  return <ul class="lineage" aria-label="lineage"><Node node={tree} depth={0} /></ul>;
}

// The tree of `path` (under /lineage), fetched when shown.
export function LineageView({ path, what }) {
  const { data, error } = useApi(`/lineage${path}`);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what={`the lineage of ${what}`} />;
  return <LineageTree tree={data} />;
}
