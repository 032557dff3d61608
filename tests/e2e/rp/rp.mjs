// A relying party built only on panva's openid-client (v6), driven by tests/e2e/test_openid_client.py.
//
//   node rp.mjs start  < {issuer, client_id, client_secret, redirect_uri, scope}
//   node rp.mjs finish < {... , callback_url, state, nonce, code_verifier, post_logout_redirect_uri, logout_state}
//
// Reads one JSON object on stdin and prints one JSON object on stdout; on an error it prints
// {"error": {...}} and exits 1. Everything protocol-related is the library's: discovery (with its
// issuer check), PKCE, the authorization response checks (state, iss), the ID token checks
// (signature against the JWKS, iss, aud, exp, iat, nonce, alg) and the UserInfo sub check.
import * as client from "openid-client";

async function readStdin() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

function configure(input) {
  return client.discovery(
    new URL(input.issuer),
    input.client_id,
    { id_token_signed_response_alg: "RS256" },
    client.ClientSecretBasic(input.client_secret),
    // the provider runs on plain http://127.0.0.1 here; every check but TLS stays on, and the
    // ID token signature is verified against the provider's JWKS (non-repudiation checks)
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks], timeout: 10 },
  );
}

async function start(input) {
  const config = await configure(input);
  const code_verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    ...(input.extra || {}),
  });
  return { authorization_url: url.href, state, nonce, code_verifier, server: config.serverMetadata() };
}

async function introspect(config, token, hint) {
  const out = await client.tokenIntrospection(config, token, { token_type_hint: hint });
  return { ...out };
}

async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return describe(err);
  }
}

async function finish(input) {
  const config = await configure(input);
  const tokens = await client.authorizationCodeGrant(config, new URL(input.callback_url), {
    pkceCodeVerifier: input.code_verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const refreshedClaims = refreshed.claims() || null;

  const before = {
    access_token: await introspect(config, refreshed.access_token, "access_token"),
    refresh_token: await introspect(config, refreshed.refresh_token, "refresh_token"),
  };
  await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: "refresh_token" });
  const after = {
    access_token: await introspect(config, refreshed.access_token, "access_token"),
    refresh_token: await introspect(config, refreshed.refresh_token, "refresh_token"),
  };
  const refreshAfterRevocation = await errorOf(client.refreshTokenGrant(config, refreshed.refresh_token));

  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: input.post_logout_redirect_uri,
    state: input.logout_state,
  });

  return {
    id_token_claims: { ...claims },
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expiresIn(),
    userinfo: { ...userinfo },
    refresh: {
      access_token_changed: refreshed.access_token !== tokens.access_token,
      refresh_token_rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      id_token_claims: refreshedClaims && { ...refreshedClaims },
    },
    introspection: { before, after },
    refresh_after_revocation: refreshAfterRevocation,
    end_session_url: endSession.href,
  };
}

function describe(err) {
  const out = { name: err?.name, message: err?.message, code: err?.code };
  for (const key of ["error", "error_description", "status"]) if (err?.[key] !== undefined) out[key] = err[key];
  if (err?.cause) out.cause = err.cause instanceof Error ? { name: err.cause.name, message: err.cause.message, code: err.cause.code } : err.cause;
  return out;
}

const commands = { start, finish };
const command = commands[process.argv[2]];
if (!command) {
  console.log(JSON.stringify({ error: { message: `usage: node rp.mjs ${Object.keys(commands).join("|")}` } }));
  process.exit(2);
}
try {
  console.log(JSON.stringify(await command(await readStdin())));
} catch (err) {
  console.log(JSON.stringify({ error: describe(err) }));
  process.exit(1);
}
