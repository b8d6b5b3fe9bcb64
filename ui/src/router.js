// Bookmarkable pages: paths under /ui/ (piped answers each with index.html).
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();
let changes = 0;  // navigations so far

export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  changes++;
  listeners.forEach((fn) => fn());
}

export function useLocation() {
  const [, setTick] = useState(0);
  const seen = changes;
  useEffect(() => {
    const fn = () => setTick((n) => n + 1);
    listeners.add(fn);
    window.addEventListener('popstate', fn);
    // A navigation between this render and now (an early 401) shows at once.
    if (seen !== changes) fn();
    return () => { listeners.delete(fn); window.removeEventListener('popstate', fn); };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

// Same-page links: a plain click on <a href="/ui/..."> changes the page
// without a reload; a middle click or ctrl-click still opens a new tab.
export function interceptLinks() {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest('a');
    // getAttribute: an SVG <a>'s href and target are not strings.
    if (!a || a.getAttribute('target') || !a.getAttribute('href')) return;
    const url = new URL(a.getAttribute('href'), location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/ui')) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
    window.scrollTo(0, 0);
  });
}

// "/ui/dags/:dag/:tab?" -> {dag, tab} or null.
export function match(pattern, path) {
  const want = pattern.split('/').filter(Boolean);
  const have = path.split('/').filter(Boolean);
  const out = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (w.startsWith(':')) {
      const optional = w.endsWith('?');
      const name = w.slice(1, optional ? -1 : undefined);
      if (i >= have.length) {
        if (optional) continue;
        return null;
      }
      try {
        out[name] = decodeURIComponent(have[i]);
      } catch {
        return null;  // a malformed escape (%FF): no page of ours
      }
    } else if (have[i] !== w) {
      return null;
    }
  }
  return have.length <= want.length ? out : null;
}
