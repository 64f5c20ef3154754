/** Why the sign-in page is shown again; each maps to a fixed sentence, so nothing a caller sent is echoed. */
export type SignInProblem = 'invalid' | 'forbidden' | 'cross-site';

const PROBLEMS: Readonly<Record<SignInProblem, string>> = {
  invalid: 'That token is not valid here (expired, wrong issuer or audience, or a bad signature).',
  forbidden: 'That token does not carry the segments:write scope the queue board needs.',
  'cross-site': 'The request did not come from this site.',
};

/**
 * The queue board's sign-in page: paste an admin token (`npm run token`),
 * get a session cookie. Plain HTML with no script, served with a strict
 * Content-Security-Policy (SIGN_IN_PAGE_HEADERS).
 */
export function signInPage(problem?: SignInProblem): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in: segments queue board</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #1f2933; }
textarea { width: 100%; font-family: monospace; }
.problem { color: #b42318; }
form { margin: 1rem 0; }
</style>
</head>
<body>
<h1>Segments queue board</h1>
${problem ? `<p class="problem" role="alert">${PROBLEMS[problem]}</p>\n` : ''}<form method="post" action="/admin/sign-in">
<p><label for="token">Admin token (a JWT with the <code>segments:write</code> scope)</label></p>
<textarea id="token" name="token" rows="6" required autocomplete="off" spellcheck="false"></textarea>
<p><button type="submit">Sign in</button></p>
</form>
<p>The session lasts as long as the token. On a development machine, <code>npm run token</code> prints one.</p>
<form method="post" action="/admin/sign-out"><button type="submit">Sign out</button></form>
</body>
</html>
`;
}

/** Headers of every sign-in page answer: never cached, never framed, no script, forms post only here. */
export const SIGN_IN_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
};
