// Charts: tiny inline histograms (SVG) and trend lines (uPlot).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export function Bars({ counts, title, kind = '' }) {
  const w = 120, h = 28;
  const max = Math.max(1, ...counts);
  const bw = w / counts.length;
  return (
    <svg class={`bars ${kind}`} width={w} height={h} role="img" aria-label={title || 'histogram'}>
      {title && <title>{title}</title>}
      {counts.map((c, i) => {
        const bh = (c / max) * (h - 2);
        return <rect key={i} x={i * bw + 0.5} y={h - bh} width={Math.max(1, bw - 1)} height={bh} />;
      })}
    </svg>
  );
}

const PALETTE = ['#0a6ebd', '#c0262d', '#17803d', '#b26b00', '#6b3fa0', '#00838f', '#8d6e63', '#d81b60'];

// labels: the x positions' names (runs, versions); series: [[name, values]].
export function TrendChart({ labels, series, height = 220 }) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current || !labels.length) return undefined;
    const xs = labels.map((_, i) => i);
    const plot = new uPlot({
      width: Math.min(900, box.current.clientWidth || 900),
      height,
      scales: { x: { time: false } },
      axes: [
        { values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) && labels[t] !== undefined ? String(labels[t]).slice(0, 15) : '')) },
        {},
      ],
      series: [{ label: 'x', value: (u, v) => (v === null || v === undefined ? '' : labels[v]) },
        ...series.map(([name], i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: true } }))],
    }, [xs, ...series.map(([, values]) => values)], box.current);
    return () => plot.destroy();
  }, [labels, series, height]);
  return <div class="trend" ref={box} />;
}
