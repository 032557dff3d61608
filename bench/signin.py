#!/usr/bin/env python3
"""Closed-loop HTTP load generator for the whole browser sign-in, one chain per iteration:

  GET /authorize (PKCE S256) -> sign-in page -> POST credentials -> resume -> code -> POST /token

N virtual users each hold one keep-alive connection and their own cookie jar, and run chains
back to back for the given duration. Prints a RESULT line in the format of the peer's
report.lua (rps = completed sign-ins per second, latencies of the whole chain).

    signin.py run    --target ours|peer BASE --users 8 --duration 15
    signin.py tokens --target ours|peer BASE --count 64 > refresh_tokens.txt   (offline_access)

`ours` is this provider (username + password against argon2id, CSRF-protected form);
`peer` is node-oidc-provider's dev interactions (any login, no password check, then consent).
Standard library only: a small HTTP/1.1 client on asyncio streams (Content-Length or chunked).
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import statistics
import sys
import time
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

REDIRECT = "http://127.0.0.1:8080/cb"


class Http:
    """One keep-alive connection to one origin, with a cookie jar (name -> value; the latest
    Set-Cookie wins, which is what both providers' per-interaction path cookies need)."""

    def __init__(self, base):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.reader = self.writer = None
        self.cookies = {}
        self.requests = 0

    async def _connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self):
        if self.writer:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method, url, form=None, headers=None):
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}", "User-Agent: idp-bench"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in (0, 1):
            if self.writer is None:
                await self._connect()
            try:
                self.writer.write(raw)
                await self.writer.drain()
                status, hdrs, data = await self._read()
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        self.requests += 1
        for value in hdrs.get("set-cookie", []):
            name, _, rest = value.partition("=")
            val = rest.split(";", 1)[0]
            low = value.lower()
            if not val or "max-age=0" in low or "expires=thu, 01 jan 1970" in low:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = val
        if "close" in ",".join(hdrs.get("connection", [])).lower():
            await self.close()
        return status, hdrs, data

    async def _read(self):
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        if "chunked" in ",".join(hdrs.get("transfer-encoding", [])).lower():
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            return status, hdrs, b"".join(chunks)
        length = int(hdrs.get("content-length", ["0"])[0])
        return status, hdrs, await self.reader.readexactly(length) if length else b""


class Failed(Exception):
    pass


def _expect(status, ok, step):
    if status not in ok:
        raise Failed(f"{step}: HTTP {status}")


def _location(base, hdrs):
    return urljoin(base, hdrs["location"][0])


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Target:
    def __init__(self, kind, base, client_id, secret, username, password):
        self.kind, self.base = kind, base.rstrip("/")
        self.basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self.client_id, self.username, self.password = client_id, username, password
        self.authorize = f"{self.base}/authorize" if kind == "ours" else f"{self.base}/auth"

    async def chain(self, http: Http, offline=False) -> dict:
        """One whole sign-in with a fresh browser (cookie jar); returns the token response."""
        http.cookies.clear()
        verifier, challenge = _pkce()
        state = secrets.token_urlsafe(8)
        scope = "openid offline_access" if offline else "openid"
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT,
                  "scope": scope, "state": state, "nonce": secrets.token_urlsafe(8),
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        if self.kind == "peer" and offline:
            params["prompt"] = "consent"  # oidc-provider drops offline_access without it
        status, hdrs, _ = await http.request("GET", f"{self.authorize}?{urlencode(params)}")
        _expect(status, (302, 303), "authorize")
        url = _location(self.base, hdrs)
        if self.kind == "ours":
            status, _, page = await http.request("GET", url)
            _expect(status, (200,), "sign-in page")
            csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
            status, hdrs, _ = await http.request("POST", url, form={
                "csrf_token": csrf, "username": self.username, "password": self.password})
            _expect(status, (302, 303), "credentials")
            status, hdrs, _ = await http.request("GET", _location(self.base, hdrs))
            _expect(status, (302, 303), "resume")
        else:
            for prompt in ("login", "consent"):
                status, _, page = await http.request("GET", url)
                _expect(status, (200,), f"{prompt} page")
                form = {"prompt": prompt}
                if prompt == "login":
                    form.update(login=self.username, password=self.password)
                status, hdrs, _ = await http.request("POST", url, form=form)
                _expect(status, (302, 303), prompt)
                status, hdrs, _ = await http.request("GET", _location(self.base, hdrs))
                _expect(status, (302, 303), "resume")
                url = _location(self.base, hdrs)
                if url.startswith(REDIRECT):
                    break
        back = _location(self.base, hdrs)
        if not back.startswith(REDIRECT):
            raise Failed(f"resume: unexpected redirect {back[:80]}")
        query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
        if query.get("state") != state or "code" not in query:
            raise Failed(f"callback: {query.get('error', 'no code')}")
        status, _, body = await http.request("POST", f"{self.base}/token", headers={"Authorization": self.basic},
                                             form={"grant_type": "authorization_code", "code": query["code"],
                                                   "redirect_uri": REDIRECT, "code_verifier": verifier})
        _expect(status, (200,), "token")
        token = json.loads(body)
        if "id_token" not in token or (offline and "refresh_token" not in token):
            raise Failed("token: missing id_token/refresh_token")
        return token


async def run(target: Target, users: int, duration: float, warmup: float):
    latencies, errors, requests = [], [], [0]
    start = time.monotonic()
    measure_from, stop = start + warmup, start + warmup + duration

    async def user():
        http = Http(target.base)
        while time.monotonic() < stop:
            t0 = time.monotonic()
            try:
                await target.chain(http)
                ok = True
            except (Failed, OSError, asyncio.IncompleteReadError, AttributeError) as exc:
                ok = False
                await http.close()
                if t0 >= measure_from:
                    errors.append(str(exc))
            t1 = time.monotonic()
            if ok and t0 >= measure_from and t1 <= stop:
                latencies.append(t1 - t0)
        requests[0] += http.requests
        await http.close()

    await asyncio.gather(*(user() for _ in range(users)))
    if not latencies:
        print(f"no sign-in completed; errors: {errors[:3]}", file=sys.stderr)
        latencies = [0.0]
    lat = sorted(latencies)
    pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000  # noqa: E731
    print(f"RESULT rps={len(latencies) / duration:.1f} p50_ms={statistics.median(lat) * 1000:.3f} "
          f"p90_ms={pct(90):.3f} p99_ms={pct(99):.3f} max_ms={lat[-1] * 1000:.3f} requests={len(latencies)} "
          f"sock_errors=0 non2xx={len(errors)}", flush=True)
    if errors:
        print(f"errors: {len(errors)}, e.g. {errors[0]}", file=sys.stderr)


async def tokens(target: Target, count: int, users: int):
    out, queue = [], list(range(count))

    async def user():
        http = Http(target.base)
        while queue:
            queue.pop()
            out.append((await target.chain(http, offline=True))["refresh_token"])
        await http.close()

    await asyncio.gather(*(user() for _ in range(users)))
    print("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["run", "tokens"])
    ap.add_argument("base", help="issuer URL, e.g. http://127.0.0.1:8000/t/kwsp or http://127.0.0.1:3000")
    ap.add_argument("--target", choices=["ours", "peer"], required=True)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--client-id", default=os.environ.get("CLIENT_ID", "bench-client"))
    ap.add_argument("--client-secret", default=os.environ.get("CLIENT_SECRET", "bench-secret"))
    ap.add_argument("--username", default=os.environ.get("BENCH_USER", "benchuser"))
    ap.add_argument("--password", default=os.environ.get("BENCH_PASSWORD", "bench passphrase 0123"))
    a = ap.parse_args()
    target = Target(a.target, a.base, a.client_id, a.client_secret, a.username, a.password)
    if a.mode == "run":
        asyncio.run(run(target, a.users, a.duration, a.warmup))
    else:
        asyncio.run(tokens(target, a.count, min(a.users, a.count)))


if __name__ == "__main__":
    main()
