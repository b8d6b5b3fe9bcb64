import { useState } from 'preact/hooks';
import { token } from '../api.js';
import { navigate, useLocation } from '../router.js';
import { refreshSession, useSession } from '../session.js';

// The token is checked against GET /api/v1/auth and kept for this browser
// session only (sessionStorage): closing the tab logs out.
export function LoginPage() {
  const { query } = useLocation();
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const session = useSession();
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    const r = await fetch('/api/v1/auth', { headers: { Authorization: `Bearer ${value.trim()}` } });
    if (!r.ok) {
      setError(r.status === 401 ? 'This token is not valid here.' : `The server answered ${r.status}.`);
      return;
    }
    token.set(value.trim());
    await refreshSession();
    const next = query.get('next');
    navigate(next && next.startsWith('/ui') && !next.startsWith('/ui/login') ? next : '/ui/dags');
  };
  return (
    <form class="login card" onSubmit={submit}>
      <h1>Log in</h1>
      <p class="muted">{session && session.tokens_required === false
        ? <>This piped has no token file: every request may read and change state, no log-in needed. <a href="/ui/dags">Go to the DAGs</a>.</>
        : 'This piped requires a bearer token (its token file lists the roles).'}</p>
      <label>Token <input type="password" name="token" value={value} autofocus
        onInput={(e) => setValue(e.target.value)} /></label>
      <button type="submit" disabled={!value.trim()}>Log in</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}
