// Who the user is (GET /api/v1/auth): the role decides which controls work.
import { useEffect, useState } from 'preact/hooks';
import { api, FORBIDDEN_EVENT } from './api.js';

let current = null;  // {tokens_required, role}
let pending = null;  // the request in flight, shared
const listeners = new Set();

export function refreshSession() {
  if (pending) return pending;
  pending = (async () => {
    try {
      current = await api.get('/auth');
    } catch (e) {
      current = { tokens_required: true, role: null, error: e };
    }
    pending = null;
    listeners.forEach((fn) => fn(current));
    return current;
  })();
  return pending;
}

// A 403 from any request: the token's role may have changed under the page.
window.addEventListener(FORBIDDEN_EVENT, () => { refreshSession(); });

export function useSession() {
  const [session, setSession] = useState(current);
  useEffect(() => {
    listeners.add(setSession);
    if (current) setSession(current);
    else refreshSession();
    return () => listeners.delete(setSession);
  }, []);
  return session;
}

// operator and admin trigger, cancel, clear and pause; viewer only reads.
export const canOperate = (session) => !!session && (session.role === 'operator' || session.role === 'admin');
export const NOT_ALLOWED = 'your role may not change state (an operator or admin token is needed)';
