"""Which WSGI server `idp serve --production` should run, by measurement (`bench/run.sh servers`).

Same app (idp.wsgi:app), same throw-away instance, same wrk settings as bench/bench.py; each
server configuration measured for discovery, client_credentials (RS256 JWT) and refresh_token
(embedded store), ROUNDS passes over all configurations so background load spreads over all.
Writes the servers block of docs/BENCHMARKS.md and bench/results/servers-<date>.json.
"""
import datetime
import importlib.util
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

spec = importlib.util.spec_from_file_location("sidebyside", Path(__file__).with_name("bench.py"))
sb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sb)

ROUNDS = int(os.environ.get("ROUNDS", 2))
DURATION = int(os.environ.get("DURATION", 8))
W = str(os.cpu_count() or 1)
APP = "idp.wsgi:app"
GRANIAN = [str(sb.VENV / "granian"), "--interface", "wsgi", "--no-ws", "--workers", W, "--host", "127.0.0.1"]
GUNICORN = [str(sb.VENV / "gunicorn"), "--workers", W, "--log-level", "warning"]
CONFIGS = {  # the first is what `idp serve --production` runs
    "granian, 1 blocking thread/worker (chosen)": GRANIAN + ["--blocking-threads", "1", "--backpressure", "128"],
    "granian, 2 blocking threads/worker": GRANIAN + ["--blocking-threads", "2", "--backpressure", "128"],
    "granian, default threads (up to 64)": GRANIAN + ["--backpressure", "128"],
    "granian, 2 x cores workers, 1 thread": [*GRANIAN[:-4], "--workers", str(2 * int(W)), "--host", "127.0.0.1",
                                             "--blocking-threads", "1", "--backpressure", "128"],
    "gunicorn sync": GUNICORN + ["--worker-class", "sync"],
    "gunicorn gthread, 4 threads": GUNICORN + ["--worker-class", "gthread", "--threads", "4"],
}


def main():
    only = os.environ.get("SERVERS")
    configs = {k: v for k, v in CONFIGS.items() if not only or any(o in k for o in only.split(","))}
    tmp = Path(tempfile.mkdtemp(prefix="idp-servers-"))
    public = f"http://127.0.0.1:{sb.PORT}"
    os.environ.update(IDP_INSTANCE_DIR=str(tmp), IDP_PUBLIC_URL=public)
    for var in ("IDP_REDIS_URL", "IDP_DATABASE_URL"):
        os.environ.pop(var, None)
    sb.idp("client", "create", "--tenant", "kwsp", "--client-id", "bench-client", "--secret", sb.OUR_SECRET,
           "--grant-type", "client_credentials", "--grant-type", "authorization_code", "--grant-type", "refresh_token",
           "--redirect-uri", "http://127.0.0.1:8080/cb", "--scope", "openid offline_access api")
    sb.idp("user", "create", "--tenant", "kwsp", "--username", sb.USER, "--type", "member", "--password", sb.PASSWORD)
    issuer = f"{public}/t/kwsp"
    rows = {name: {"discovery": [], "token_cc": [], "refresh": []} for name in configs}
    procs = sb.Procs()
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        for rnd in range(ROUNDS):
            for name, cmd in configs.items():
                bind = ["--port", str(sb.PORT)] if "granian" in cmd[0] else ["--bind", f"127.0.0.1:{sb.PORT}"]
                p = procs.start("server", cmd + bind + [APP], ready_url=f"{issuer}/jwks")
                side = sb.Side(name, issuer, p.pid, sb.OUR_SECRET, "ours")
                tokens = tmp / "tokens.txt"
                runs = {
                    "discovery": (sb.wrk(issuer + "/.well-known/openid-configuration", sb.PEER / "get.lua", duration=DURATION), {}),
                    "token_cc": (sb.wrk(issuer + "/token", sb.PEER / "token_cc.lua", duration=DURATION),
                                 {"CLIENT_SECRET": sb.OUR_SECRET, "SCOPE": "api"}),
                    "refresh": (sb.wrk(issuer + "/token", sb.BENCH / "refresh.lua", duration=DURATION),
                                {"TOKENS": str(tokens), "CLIENT_SECRET": sb.OUR_SECRET, "PEER_DIR": str(sb.PEER) + "/"}),
                }
                for endpoint, (cmd_, env) in runs.items():
                    if endpoint == "refresh":
                        sb.mint(side, sb.CONNS + 32, tokens)
                    r = sb.measured(cmd_, p.pid, env)
                    rows[name][endpoint].append(r)
                    sb.log(f"round {rnd + 1} {name:45} {endpoint:9} {r['rps']:9.1f}/s p50 {r['p50_ms']:6.2f} "
                           f"p99 {r['p99_ms']:7.2f} ms cpu {r['server_cpu_us']:5.0f} us/req bg {r['background_pct']:3.0f}%")
                procs.stop(p)
    finally:
        procs.stop_all()
    out = sb.BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / f"servers-{started:%Y%m%dT%H%M%S}.json").write_text(json.dumps(rows, indent=1))
    write_doc(rows, started)


def write_doc(rows, started):
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    lines = ["<!-- servers:begin (written by bench/run.sh servers; edit outside these markers) -->",
             f"Run {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores shared with wrk (-t{sb.THREADS} -c{sb.CONNS}), "
             f"{ROUNDS} rounds x {DURATION} s per endpoint and server, medians; {W} workers each.", "",
             "| server | discovery req/s (p99 ms) | client_credentials req/s (p50 / p99 ms) | CPU us/req | "
             "refresh req/s (p50 / p99 ms) | background CPU |", "|---|---:|---:|---:|---:|---:|"]
    for name, eps in rows.items():
        d, c, r = eps["discovery"], eps["token_cc"], eps["refresh"]
        bg = statistics.median(x["background_pct"] for x in d + c + r)
        lines.append(f"| {name} | {med(d, 'rps'):,.0f} ({med(d, 'p99_ms'):.1f}) | {med(c, 'rps'):,.0f} "
                     f"({med(c, 'p50_ms'):.1f} / {med(c, 'p99_ms'):.1f}) | {med(c, 'server_cpu_us'):,.0f} | "
                     f"{med(r, 'rps'):,.0f} ({med(r, 'p50_ms'):.1f} / {med(r, 'p99_ms'):.1f}) | {bg:.0f}% |")
    lines.append("<!-- servers:end -->")
    block = "\n".join(lines)
    text = sb.DOC.read_text() if sb.DOC.exists() else "# Benchmarks\n\n"
    if "<!-- servers:begin" in text:
        text = re.sub(r"<!-- servers:begin.*?<!-- servers:end -->", lambda m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    sb.DOC.write_text(text)
    print(block)


if __name__ == "__main__":
    sys.exit(main())
