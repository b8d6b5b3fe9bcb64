// A run's JSON kept current while it runs: GET /api/v1/runs/{id} again a
// moment after each of its transitions on GET /api/v1/events.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, enc, followEvents } from './api.js';

const FINISHED = new Set(['success', 'failed', 'cancelled']);
const NONE = { run: null, error: null, live: '' };

export function useLiveRun(runId) {
  const [state, setState] = useState(NONE);
  const timer = useRef(null);
  useEffect(() => {
    if (!runId) { setState(NONE); return undefined; }  // the same object: no render
    let gone = false;
    const load = async () => {
      try {
        const run = await api.get(`/runs/${enc(runId)}`);
        if (!gone) setState((s) => ({ ...s, run, error: null }));
      } catch (error) {
        if (!gone) setState((s) => ({ ...s, error }));
      }
    };
    const soon = () => {
      if (timer.current) return;
      timer.current = setTimeout(() => { timer.current = null; load(); }, 150);
    };
    // Subscribe first, then load: no transition falls between the two.
    const stop = followEvents({ run_id: runId }, soon, (live) => { if (!gone) setState((s) => ({ ...s, live })); });
    load();
    // A running try's duration grows without transitions: redraw each second.
    const tick = setInterval(() => setState((s) => (s.run && !FINISHED.has(s.run.state) ? { ...s } : s)), 1000);
    return () => { gone = true; stop(); clearInterval(tick); clearTimeout(timer.current); timer.current = null; };
  }, [runId]);
  return { ...state, reload: () => api.get(`/runs/${enc(runId)}`).then((run) => setState((s) => ({ ...s, run }))) };
}

export const isFinished = (state) => FINISHED.has(state);
