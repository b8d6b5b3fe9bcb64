// Who the user is (GET /api/v1/auth): the role decides which controls work.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

let current = null;  // {tokens_required, role}
const listeners = new Set();

export async function refreshSession() {
  try {
    current = await api.get('/auth');
  } catch (e) {
    current = { tokens_required: true, role: null, error: e };
  }
  listeners.forEach((fn) => fn(current));
  return current;
}

export function useSession() {
  const [session, setSession] = useState(current);
  useEffect(() => {
    listeners.add(setSession);
    if (!current) refreshSession();
    return () => listeners.delete(setSession);
  }, []);
  return session;
}

// operator and admin trigger, cancel, clear and pause; viewer only reads.
export const canOperate = (session) => !!session && (session.role === 'operator' || session.role === 'admin');
export const NOT_ALLOWED = 'your role may not change state (an operator or admin token is needed)';
