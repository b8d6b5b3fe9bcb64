// A run's JSON kept current: while it runs, GET /api/v1/runs/{id} again a
// moment after each of its transitions on GET /api/v1/events; once it has
// finished, no stream is held (a browser has six connections per host for
// all its tabs), only a look every 10 s while the tab is shown, for a clear
// made elsewhere.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, enc, followEvents } from './api.js';

const FINISHED = new Set(['success', 'failed', 'cancelled']);
const NONE = { id: null, run: null, error: null, live: '' };
const FINISHED_POLL_MS = 10000;

export function useLiveRun(runId) {
  const [state, setState] = useState(NONE);
  const timer = useRef(null);
  // What was loaded for another id (the page before a link to this run)
  // is not shown as this run's, nor is its error.
  const mine = state.id === runId;
  // Whether the run shown is this id's and has finished: the stream is
  // held only while it has not.
  const finished = mine && !!state.run && FINISHED.has(state.run.state);
  useEffect(() => {
    if (!runId) { setState(NONE); return undefined; }  // the same object: no render
    let gone = false;
    let stop = () => {};
    const load = async () => {
      try {
        const run = await api.get(`/runs/${enc(runId)}`);
        if (!gone) setState((s) => ({ ...s, id: runId, run, error: null }));
      } catch (error) {
        if (gone) return;
        setState((s) => ({ ...s, id: runId, run: s.id === runId ? s.run : null, error }));
        if (error.status === 404) stop();  // no such run: nothing to follow
      }
    };
    if (finished) {
      const poll = setInterval(() => { if (!document.hidden) load(); }, FINISHED_POLL_MS);
      setState((s) => (s.live ? { ...s, live: '' } : s));
      return () => { gone = true; clearInterval(poll); };
    }
    const soon = () => {
      if (timer.current) return;
      timer.current = setTimeout(() => { timer.current = null; load(); }, 150);
    };
    // Subscribe first, then load: no transition falls between the two.
    stop = followEvents({ run_id: runId }, soon, (live) => { if (!gone) setState((s) => ({ ...s, live })); });
    load();
    // A running try's duration grows without transitions: redraw each second.
    const tick = setInterval(() => setState((s) => (s.run && !FINISHED.has(s.run.state) ? { ...s } : s)), 1000);
    return () => { gone = true; stop(); clearInterval(tick); clearTimeout(timer.current); timer.current = null; };
  }, [runId, finished]);
  return {
    run: mine ? state.run : null,
    error: mine ? state.error : null,
    live: mine ? state.live : '',
    // Kept only while the page still shows this run.
    reload: () => api.get(`/runs/${enc(runId)}`).then((run) => setState((s) => (s.id === runId ? { ...s, run, error: null } : s))),
  };
}

export const isFinished = (state) => FINISHED.has(state);
