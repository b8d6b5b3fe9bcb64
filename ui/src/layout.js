// Lays out a DAG left to right. Up to DAGRE_LIMIT tasks: dagre (fewer edge
// crossings, nicer). Above: dagre's ranking and ordering grow too fast (300
// tasks take 0.75 s, 2,000 did not finish in 5 minutes on our machines), so a
// layered layout that is linear in the edges per sweep: longest-path ranks,
// then median-free barycenter sweeps to reduce crossings.
import dagre from '@dagrejs/dagre';

export const NODE_W = 168;
export const NODE_H = 34;
const DAGRE_LIMIT = 150;

// -> {nodes: Map id -> {x, y} (centres), width, height, edges: [{from, to, points}]}
export function layout(ids, edges) {
  return ids.length <= DAGRE_LIMIT ? withDagre(ids, edges) : layered(ids, edges);
}

function withDagre(ids, edges) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 56, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const id of ids) g.setNode(id, { width: NODE_W, height: NODE_H });
  for (const [a, b] of edges) g.setEdge(a, b);
  dagre.layout(g);
  const nodes = new Map(ids.map((id) => [id, { x: g.node(id).x, y: g.node(id).y }]));
  const out = edges.map(([a, b]) => ({ from: a, to: b, points: g.edge(a, b).points }));
  return { nodes, edges: out, width: g.graph().width, height: g.graph().height };
}

function layered(ids, edges) {
  const index = new Map(ids.map((id, i) => [id, i]));
  const n = ids.length;
  const succ = Array.from({ length: n }, () => []);
  const pred = Array.from({ length: n }, () => []);
  const indegree = new Array(n).fill(0);
  for (const [a, b] of edges) {
    const i = index.get(a), j = index.get(b);
    succ[i].push(j);
    pred[j].push(i);
    indegree[j]++;
  }
  // Longest-path ranks in topological order (Kahn).
  const rank = new Array(n).fill(0);
  const queue = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) queue.push(i);
  for (let head = 0; head < queue.length; head++) {
    const i = queue[head];
    for (const j of succ[i]) {
      rank[j] = Math.max(rank[j], rank[i] + 1);
      if (--indegree[j] === 0) queue.push(j);
    }
  }
  const ranks = [];
  for (const i of queue) (ranks[rank[i]] ||= []).push(i);
  const pos = new Float64Array(n);
  const place = () => ranks.forEach((r) => r.forEach((i, k) => { pos[i] = k; }));
  place();
  // Barycenter sweeps: down by predecessors, up by successors.
  const key = new Float64Array(n);
  const sweep = (r, neighbours) => {
    for (const i of r) {
      const ns = neighbours[i];
      let sum = 0;
      for (const j of ns) sum += pos[j];
      key[i] = ns.length ? sum / ns.length : pos[i];
    }
    r.sort((a, b) => key[a] - key[b]);
    for (let k = 0; k < r.length; k++) pos[r[k]] = k;
  };
  for (let pass = 0; pass < 4; pass++) {
    for (let k = 1; k < ranks.length; k++) sweep(ranks[k], pred);
    for (let k = ranks.length - 2; k >= 0; k--) sweep(ranks[k], succ);
  }
  const gapX = 56, gapY = 14, margin = 12;
  const tallest = Math.max(...ranks.map((r) => r.length));
  const nodes = new Map();
  ranks.forEach((r, k) => {
    const offset = ((tallest - r.length) * (NODE_H + gapY)) / 2;  // centre short ranks
    r.forEach((i, row) => nodes.set(ids[i], {
      x: margin + k * (NODE_W + gapX) + NODE_W / 2,
      y: margin + offset + row * (NODE_H + gapY) + NODE_H / 2,
    }));
  });
  const out = edges.map(([a, b]) => {
    const p = nodes.get(a), q = nodes.get(b);
    return { from: a, to: b, points: [{ x: p.x + NODE_W / 2, y: p.y }, { x: q.x - NODE_W / 2, y: q.y }] };
  });
  return {
    nodes,
    edges: out,
    width: 2 * margin + ranks.length * (NODE_W + gapX) - gapX,
    height: 2 * margin + tallest * (NODE_H + gapY) - gapY,
  };
}

// An SVG path through dagre's points, or a curve between two ends.
export function edgePath(points) {
  if (points.length === 2) {
    const [a, b] = points;
    const mx = (a.x + b.x) / 2;
    return `M${a.x},${a.y}C${mx},${a.y} ${mx},${b.y} ${b.x},${b.y}`;
  }
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) d += `L${points[i].x},${points[i].y}`;
  return d;
}
