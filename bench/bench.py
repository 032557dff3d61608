"""Side-by-side load benchmark: this provider against node-oidc-provider (../shared/bench-peer).

Run through bench/run.sh (`make bench`). Sets up a throw-away instance (bench client + user),
starts the production server (`idp serve --production`) and both peers (opaque on :3000,
RS256 JWT on :3001), then measures every endpoint on both sides with the same settings,
alternating ours/peer run by run so both see the same background load. Writes the results
block of docs/BENCHMARKS.md (between the bench:begin/end markers; the rest of the page is
kept) and bench/results/<date>.json.

Settings (env): RUNS=3 DURATION=10 CONNS=32 THREADS=1 WARMUP=2 USERS=8 PORT=8000 (the probe on PORT+2)
  BENCH_ONLY="discovery jwks token_cc refresh signin refresh_redis"   (a subset, for quick looks)
"""
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEER = Path(os.environ.get("PEER_DIR", ROOT.parent / "shared" / "bench-peer")).resolve()
VENV = ROOT / ".venv" / "bin"
DOC = ROOT / "docs" / "BENCHMARKS.md"

RUNS = int(os.environ.get("RUNS", 3))
DURATION = int(os.environ.get("DURATION", 10))
CONNS = int(os.environ.get("CONNS", 32))
THREADS = int(os.environ.get("THREADS", 1))
WARMUP = int(os.environ.get("WARMUP", 2))
USERS = int(os.environ.get("USERS", 8))
PORT = int(os.environ.get("PORT", 8000))
PROBE_PORT = PORT + 2
ONLY = os.environ.get("BENCH_ONLY", "discovery jwks token_cc refresh signin refresh_redis").split()
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

OUR_SECRET = "bench-secret-0123456789"  # the provider refuses secrets under 16 characters
PEER_SECRET = "bench-secret"            # server.mjs
USER, PASSWORD = "benchuser", "bench passphrase 0123"
HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def log(*args):
    print("bench:", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- CPU accounting from /proc
def _tree(pid):
    """pid and its descendants."""
    kids = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _cpu_seconds(pids):
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / HZ


def _busy_seconds():
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / HZ


def measured(cmd, server_pid, env=None):
    """Run a load generator; return its RESULT dict plus server CPU per request and the share of
    the machine other processes used meanwhile (background load)."""
    pids = _tree(server_pid)
    cpu0, busy0, kids0, t0 = _cpu_seconds(pids), _busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.time() - t0
    cpu, busy, kids = _cpu_seconds(pids) - cpu0, _busy_seconds() - busy0, resource.getrusage(resource.RUSAGE_CHILDREN)
    gen = (kids.ru_utime - kids0.ru_utime) + (kids.ru_stime - kids0.ru_stime)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"no RESULT from {' '.join(map(str, cmd))}:\n{out.stdout}\n{out.stderr}")
    r = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}
    r["server_cpu_us"] = cpu / max(1.0, r["requests"]) * 1e6
    r["server_cores"] = cpu / wall
    r["background_pct"] = max(0.0, (busy - cpu - gen) / (NCPU * wall) * 100)
    return r


def wrk(url, script, env=None, duration=DURATION):
    return ["wrk", f"-t{THREADS}", f"-c{CONNS}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), url]


# ---------------------------------------------------------------- processes
class Procs:
    def __init__(self):
        self.procs = []

    def start(self, name, cmd, env=None, cwd=ROOT, ready_url=None):
        logf = open(Path(os.environ["IDP_INSTANCE_DIR"]) / f"{name}.log", "w")
        p = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        deadline = time.time() + 60
        while ready_url:
            try:
                urllib.request.urlopen(ready_url, timeout=2).read()
                break
            except OSError:
                if p.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{name} did not start; see {logf.name}")
                time.sleep(0.3)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def idp(*args, env=None):
    return subprocess.run([str(VENV / "idp"), *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          check=True, capture_output=True, text=True).stdout


# ---------------------------------------------------------------- measurements
class Side:
    def __init__(self, label, base, pid, secret, kind):
        self.label, self.base, self.pid, self.secret, self.kind = label, base, pid, secret, kind


def pair(name, ours: Side, peer: Side, make_cmd, results, before_run=None, also=()):
    """RUNS alternating runs of ours and the peer (after one warm-up each), and of `also`."""
    sides = (ours, peer, *also)
    log(f"{name}: {' vs '.join(side.label for side in sides)}, {RUNS} x {DURATION}s")
    rows = {side.label: [] for side in sides}
    for side in sides:
        env = before_run(side) if before_run else None
        subprocess.run(make_cmd(side, WARMUP), capture_output=True, env={**os.environ, **(env or {})})
    for i in range(RUNS):
        for side in sides:
            env = before_run(side) if before_run else None
            r = measured(make_cmd(side, DURATION), side.pid, env)
            rows[side.label].append(r)
            log(f"  {side.label:16} run{i + 1}: {r['rps']:9.1f}/s p50 {r['p50_ms']:7.2f} ms p99 {r['p99_ms']:7.2f} ms "
                f"non2xx {int(r['non2xx'])} cpu {r['server_cpu_us']:6.0f} us/req bg {r['background_pct']:4.0f}%")
    results[name] = {"ours": summarise(rows[ours.label]), "peer": summarise(rows[peer.label]),
                     "ours_label": ours.label, "peer_label": peer.label,
                     **{side.kind: summarise(rows[side.label]) for side in also}}


def summarise(runs):
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    return {"rps": med("rps"), "p50_ms": med("p50_ms"), "p99_ms": med("p99_ms"),
            "rps_min": min(r["rps"] for r in runs), "rps_max": max(r["rps"] for r in runs),
            "non2xx": int(sum(r["non2xx"] for r in runs)), "server_cpu_us": med("server_cpu_us"),
            "background_pct": med("background_pct"), "runs": runs}


def argon2_bound(workers):
    """The tenant's argon2id cost: one verification (median of 30) and the hash rate of `workers`
    threads hashing side by side (argon2-cffi releases the GIL) - the ceiling for sign-ins/s."""
    sys.path.insert(0, str(ROOT))
    from argon2 import PasswordHasher, Type
    from tenants import load_tenants
    p = load_tenants(None)["kwsp"].password
    ph = PasswordHasher(time_cost=p.argon2_time_cost, memory_cost=p.argon2_memory_cost,
                        parallelism=p.argon2_parallelism, type=Type.ID)
    stored = ph.hash(PASSWORD)
    times = []
    for _ in range(30):
        t = time.perf_counter()
        ph.verify(stored, PASSWORD)
        times.append(time.perf_counter() - t)
    # side by side the two hashers share caches and memory bandwidth, and how much they slow each
    # other varies from minute to minute on this machine (20-40 %): three rounds of ~1 s, median
    rates = [_parallel_hash_rate(ph, stored, workers, 60 * workers) for _ in range(3)]
    rate = statistics.median(rates)
    log(f"argon2id side by side: {', '.join(f'{r:.1f}' for r in rates)} hashes/s")
    return {"params": f"t={p.argon2_time_cost}, m={p.argon2_memory_cost} KiB, p={p.argon2_parallelism}",
            "hash_ms_p50": statistics.median(times) * 1000, "hash_ms_min": min(times) * 1000,
            "workers": workers, "bound_per_s": rate, "bound_single": workers / statistics.median(times)}


def _parallel_hash_rate(ph, stored, workers, n):
    done, lock = [0], threading.Lock()

    def hasher():
        while True:
            with lock:
                if done[0] >= n:
                    return
                done[0] += 1
            ph.verify(stored, PASSWORD)
    threads = [threading.Thread(target=hasher) for _ in range(workers)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return n / (time.perf_counter() - t)


def mint(side: Side, count, path):
    out = subprocess.run([sys.executable, str(BENCH / "signin.py"), "tokens", side.base, "--target", side.kind,
                          "--client-secret", side.secret, "--count", str(count), "--users", "8"],
                         capture_output=True, text=True, check=True).stdout
    Path(path).write_text(out)


def main():
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (apt-get install -y wrk)")
    for port in (PORT, PROBE_PORT, 3000, 3001):
        if not port_free(port):
            sys.exit(f"bench: port {port} is in use; stop what listens there (or set PORT for ours)")
    tmp = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    public = f"http://127.0.0.1:{PORT}"
    os.environ.update(IDP_INSTANCE_DIR=str(tmp), IDP_PUBLIC_URL=public)
    os.environ.pop("IDP_REDIS_URL", None)
    os.environ.pop("IDP_DATABASE_URL", None)
    procs = Procs()
    results, started = {}, datetime.datetime.now(datetime.timezone.utc)
    try:
        log(f"instance {tmp}")
        idp("client", "create", "--tenant", "kwsp", "--client-id", "bench-client", "--secret", OUR_SECRET,
            "--grant-type", "client_credentials", "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--redirect-uri", "http://127.0.0.1:8080/cb", "--scope", "openid offline_access api")
        idp("user", "create", "--tenant", "kwsp", "--username", USER, "--type", "member", "--password", PASSWORD)
        p_opaque = procs.start("peer-opaque", ["node", "server.mjs"], cwd=PEER, env={"PORT": "3000"},
                               ready_url="http://127.0.0.1:3000/jwks")
        p_jwt = procs.start("peer-jwt", ["node", "server.mjs"], cwd=PEER, env={"PORT": "3001", "TOKEN_FORMAT": "jwt"},
                            ready_url="http://127.0.0.1:3001/jwks")
        issuer = f"{public}/t/kwsp"
        serve = [str(VENV / "idp"), "serve", "--production", "--port", str(PORT)]
        ours_p = procs.start("ours", serve, ready_url=f"{issuer}/jwks")
        banner = (tmp / "ours.log").read_text().splitlines()[0]
        workers = int(re.search(r"\((\d+) worker", banner).group(1)) if "worker" in banner else NCPU
        ours = Side("ours", issuer, ours_p.pid, OUR_SECRET, "ours")
        peer = Side("peer-opaque", "http://127.0.0.1:3000", p_opaque.pid, PEER_SECRET, "peer")
        peer_jwt = Side("peer-jwt", "http://127.0.0.1:3001", p_jwt.pid, PEER_SECRET, "peer")
        get = PEER / "get.lua"
        paths = {"ours": ("/.well-known/openid-configuration", "/jwks"),
                 "peer": ("/.well-known/openid-configuration", "/jwks")}
        if "discovery" in ONLY:
            pair("discovery", ours, peer, lambda s, d: wrk(s.base + paths[s.kind][0], get, duration=d), results)
        if "jwks" in ONLY:
            pair("jwks", ours, peer, lambda s, d: wrk(s.base + paths[s.kind][1], get, duration=d), results)
        if "token_cc" in ONLY:
            # the floor under ours: bare Flask + Authlib on the same server settings (bench/probe.py)
            p_probe = procs.start("probe", [str(VENV / "granian"), "--interface", "wsgi", "--no-ws", "--workers",
                                            str(workers), "--host", "127.0.0.1", "--port", str(PROBE_PORT),
                                            "--blocking-threads", "1", "--backpressure", "128", "probe:app"],
                                  cwd=BENCH, ready_url=f"http://127.0.0.1:{PROBE_PORT}/ready")
            probe = Side("probe", f"http://127.0.0.1:{PROBE_PORT}/t/kwsp", p_probe.pid, OUR_SECRET, "probe")
            pair("token_cc", ours, peer_jwt, lambda s, d: wrk(s.base + "/token", PEER / "token_cc.lua", duration=d),
                 results, before_run=lambda s: {"CLIENT_SECRET": s.secret, "SCOPE": "api"}, also=[probe])
            procs.stop(p_probe)

        def refresh_env(side):
            path = tmp / f"tokens-{side.label}.txt"
            mint(side, CONNS + 32, path)
            return {"TOKENS": str(path), "CLIENT_SECRET": side.secret, "PEER_DIR": str(PEER) + "/"}
        refresh_cmd = lambda s, d: wrk(s.base + "/token", BENCH / "refresh.lua", duration=d)  # noqa: E731
        if "refresh" in ONLY:
            pair("refresh", ours, peer_jwt, refresh_cmd, results, before_run=refresh_env)
        if "signin" in ONLY:
            results["argon2"] = argon2_bound(workers)
            log(f"argon2id {results['argon2']}")
            pair("signin", ours, peer, lambda s, d: [
                sys.executable, str(BENCH / "signin.py"), "run", s.base, "--target", s.kind, "--client-secret", s.secret,
                "--users", str(USERS), "--duration", str(d), "--warmup", "1"], results)
        if "refresh_redis" in ONLY:
            procs.stop(ours_p)
            if shutil.which("redis-cli"):
                subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], capture_output=True)
            os.environ["IDP_REDIS_URL"] = REDIS_URL
            ours_p = procs.start("ours-redis", serve, ready_url=f"{issuer}/jwks")
            ours = Side("ours-redis", issuer, ours_p.pid, OUR_SECRET, "ours")
            pair("refresh_redis", ours, peer_jwt, refresh_cmd, results, before_run=refresh_env)
            os.environ.pop("IDP_REDIS_URL")
            if shutil.which("redis-cli"):
                subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], capture_output=True)
    finally:
        procs.stop_all()
    meta = machine(started, workers, banner)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / f"{started:%Y%m%dT%H%M%S}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    write_doc(meta, results)
    shutil.rmtree(tmp, ignore_errors=True)


def machine(started, workers, banner):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    peer_version = json.loads((PEER / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    return {"date": f"{started:%Y-%m-%d %H:%M} UTC", "nproc": NCPU, "cpu": cpu, "python": platform.python_version(),
            "node": node, "oidc_provider": peer_version, "server": banner.replace("idp: ", ""), "workers": workers,
            "load_before": os.getloadavg()}


TARGETS = {
    "discovery": ("ours >= 15,000 req/s", lambda o, p, a: o["rps"] >= 15000),
    "jwks": ("ours >= 15,000 req/s", lambda o, p, a: o["rps"] >= 15000),
    "token_cc": (">= 0.9x peer, p99 < 20 ms", lambda o, p, a: o["rps"] >= 0.9 * p["rps"] and o["p99_ms"] < 20),
    "refresh": (">= 1,000 req/s", lambda o, p, a: o["rps"] >= 1000),
    "refresh_redis": (">= 1,000 req/s", lambda o, p, a: o["rps"] >= 1000),
    "signin": (">= 0.9 x argon2 bound", lambda o, p, a: a and o["rps"] >= 0.9 * a["bound_per_s"]),
}
LABELS = {
    "discovery": "discovery (GET openid-configuration)", "jwks": "JWKS (GET)",
    "token_cc": "client_credentials, RS256 JWT access token",
    "refresh": "refresh_token (rotation; embedded SQLite store)",
    "refresh_redis": "refresh_token (rotation; Redis store)",
    "signin": "full password sign-in (sign-ins/s; 5 requests each, the peer's 8)",
}


def write_doc(meta, results):
    a = results.get("argon2")
    lines = [
        "<!-- bench:begin (written by bench/run.sh; edit outside these markers) -->",
        f"Run {meta['date']} on {meta['nproc']} x {meta['cpu']} (load generator on the same cores); "
        f"Python {meta['python']}, node {meta['node']}, oidc-provider {meta['oidc_provider']}.",
        f"Ours: `idp serve --production` = {meta['server']}. Peer: node-oidc-provider `server.mjs` "
        "(opaque on :3000 for discovery/JWKS/sign-in, `TOKEN_FORMAT=jwt` on :3001 for token endpoints).",
        f"Load: wrk -t{THREADS} -c{CONNS}, {RUNS} x {DURATION} s per side after a {WARMUP} s warm-up, runs alternating "
        f"ours/peer; sign-in: bench/signin.py, {USERS} virtual users. Medians of the runs.",
        "",
        "| endpoint | ours req/s | ours p50 / p99 ms | peer req/s | peer p50 / p99 ms | ratio | target | met? |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name in ("discovery", "jwks", "token_cc", "refresh", "refresh_redis", "signin"):
        if name not in results:
            continue
        o, p = results[name]["ours"], results[name]["peer"]
        target, check = TARGETS[name]
        ok = check(o, p, a)
        extra = f" (bound {a['bound_per_s']:.1f}/s: {o['rps'] / a['bound_per_s']:.2f}x)" if name == "signin" and a else ""
        errs = f" ({o['non2xx']} non-2xx)" if o["non2xx"] else ""
        lines.append(
            f"| {LABELS[name]} | {o['rps']:,.0f}{errs} | {o['p50_ms']:.1f} / {o['p99_ms']:.1f} | {p['rps']:,.0f} | "
            f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f} | {o['rps'] / p['rps']:.2f}x | {target}{extra} | "
            f"{'yes' if ok else '**no**'} |")
        if "probe" in results[name]:
            b = results[name]["probe"]
            lines.append(
                f"| same, bare Flask + Authlib (`bench/probe.py`: the framework's floor, not a provider) | "
                f"{b['rps']:,.0f} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} | {p['rps']:,.0f} | "
                f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f} | {b['rps'] / p['rps']:.2f}x | "
                f"ours = {o['rps'] / b['rps']:.2f}x of it | |")
    if a:
        lines.append(f"| argon2id hash ({a['params']}), 1 verification | {1000 / a['hash_ms_p50']:.1f}/s/core | "
                     f"{a['hash_ms_p50']:.1f} ms | n/a | n/a (no password hashing in the peer) | | "
                     f"bound with {a['workers']} workers: {a['bound_per_s']:.1f}/s | |")
    lines += ["", "Server CPU per request (per sign-in for the sign-in row; all server processes, from /proc) and "
              "background load (other processes on the machine during the runs):", "",
              "| endpoint | ours CPU us/req | peer CPU us/req | ours req/s (min-max) | peer req/s (min-max) | background CPU |",
              "|---|---:|---:|---:|---:|---:|"]
    for name in ("discovery", "jwks", "token_cc", "refresh", "refresh_redis", "signin"):
        if name in results:
            o, p = results[name]["ours"], results[name]["peer"]
            lines.append(f"| {name} | {o['server_cpu_us']:,.0f} | {p['server_cpu_us']:,.0f} | "
                         f"{o['rps_min']:,.0f}-{o['rps_max']:,.0f} | {p['rps_min']:,.0f}-{p['rps_max']:,.0f} | "
                         f"{(o['background_pct'] + p['background_pct']) / 2:.0f}% |")
            if "probe" in results[name]:
                b = results[name]["probe"]
                lines.append(f"| {name}, probe | {b['server_cpu_us']:,.0f} | {p['server_cpu_us']:,.0f} | "
                             f"{b['rps_min']:,.0f}-{b['rps_max']:,.0f} | {p['rps_min']:,.0f}-{p['rps_max']:,.0f} | "
                             f"{b['background_pct']:.0f}% |")
    lines.append("<!-- bench:end -->")
    block = "\n".join(lines)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n" + block + "\n"
    if "<!-- bench:begin" in text:
        text = re.sub(r"<!-- bench:begin.*?<!-- bench:end -->", lambda m: block, text, flags=re.S)
    elif block not in text:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)
    print(block)


if __name__ == "__main__":
    main()
