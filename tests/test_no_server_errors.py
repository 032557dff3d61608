"""No request, however malformed, makes the provider answer 5xx, reflect markup or redirect off-site.

The seeded, bounded form of a larger fuzzing run (~53,000 malformed requests to every route) that found
one 500: resuming a finished self-service interaction at /t/<tenant>/authorize/resume/<uid>. From
`random.Random(seed)` (a failure names its seed and request, and reproduces): every rule of `app.url_map`
with no session and signed in (a new route is fuzzed unasked; each must be reached), and each interaction
page of sign-in, forgot password, forgot user ID, activation, temporary-password change and logout with a
valid cookie and CSRF token but malformed fields, then its resume and cancel links. A response passes when
its status is below 500, no injected marker is in its HTML unescaped, and its Location stays on the site
or goes to a test client's registered URI.
"""
import contextlib
import json
import re
from collections import Counter
from random import Random
from urllib.parse import quote

import pytest
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from tests import helpers as H

SEEDS = [1, 2]
ON_SITE = ("http://127.0.0.1:8000/", H.REDIRECT, "https://rp.example/bye")  # the issuer; the clients' registered URIs
MARKERS = ("<zq>", "\"zq'")  # what the GARBAGE values inject; Jinja must escape them
ROUNDS = 30  # requests per route per seed, without a session and again signed in
FLOW_ROUNDS = 10  # fresh interactions per flow page per seed, each sent up to 8 bad forms
MIN_HITS = 25  # of those 2 x ROUNDS, how many must reach the route (some use a method it lacks)
HUGE, FORM = "A" * 20_000, "application/x-www-form-urlencoded"
GARBAGE = [
    "", " ", "\t\n", "\x00", "a\x00b", "%00", "%zz", "%", "%ff%fe", "\ufffd", "\u200b", "\u202e", "ｆｕｌｌ", "A\u030a",
    "😀" * 5, "\ud800", "x\udfffy", "İ", "ß", "٣", "²", "x" * 5000, HUGE, "x" * 1025, "ﷺ" * 200,
    "<zq>", '"zq\'', "-1", "0", "1e999", "NaN", "9" * 40, "-99999999999",
    "null", "true", "[]", "{}", "[" * 5000, '"\\ud800"', '{"id_token":[]}', '{"id_token":null}',
    '{"userinfo":{"\\ud800":null}}',
    '{"id_token":{"acr":{"essential":true,"values":"x"}}}', '{"id_token":{"acr":{"essential":1,"values":[null]}}}',
    '[{"type":"kwsp_withdrawal","amount":"1e999","account":"x"}]', '[{"type":"kwsp_withdrawal","amount":"sNaN"}]',
    '[{"type":["x"]}]', '[1,2]', "openid", "openid openid", "none login", "select_account", "code", "code id_token",
    "S256", "plain", "form_post", "query.jwt", "eyJhbGciOiJub25lIn0.e30.", "a.b.c", "eyJ" + "A" * 9000 + ".x.y",
    "eyJhbGciOiJSUzI1NiIsImNyaXQiOjF9.e30.c2ln",  # {"alg":"RS256","crit":1}
    H.REDIRECT, H.REDIRECT + "?x=1", H.REDIRECT + "#f", "http://[::1/", "https://rp.example:abc/cb",
    "https://rp.example/bye",
    "ms", "en", "zz", "ms" * 4000, "ali", "ALI", " ali", "ａｌｉ", "800101-14-5678", "991399-14-5678",
    "８００１０１-14-5678", "012-3456789", "+60123456789", "+", "+1" + "2" * 20, "0\u00a0123456789", "123456", "000000",
    "AAAA-BBBB-CCCC-DDDD", "a@b@c", H.PASSWORD, "portal", "spa", "bcl", "postclient",
]
OFF_SITE = ["https://evil.example/cb", "//evil.example", "/\\evil.example", "https://rp.example@evil.example/cb",
            "https://rp.example.evil.example/cb", "javascript:alert(1)", "data:text/html,<zq>", "HTTPS://RP.EXAMPLE/cb"]
GARBAGE += OFF_SITE
PARAMS = ("response_type client_id redirect_uri scope state response_mode nonce prompt max_age id_token_hint "
          "login_hint ui_locales acr_values claims code_challenge code_challenge_method authorization_details "
          "request request_uri "
          "grant_type code refresh_token code_verifier client_secret client_assertion client_assertion_type token "
          "token_type_hint post_logout_redirect_uri logout_hint csrf_token username password stage from").split()
FILL = {"<tenant_id>": ["kwsp"] * 5 + ["perkeso", "nope", "%ff", "KWSP", "k%00"],
        "<uid>": ["A" * 32, "x" * 65, "%ff", "a%20b", "%C3%A9", ".."],
        "<flow_name>": ["activation", "forgot_password", "forgot_username", "totp_enrol", "totp_remove",
                        "phone_change", "login", "step_up", "x", "%00"],
        "<token>": ["x", "x" * 200, "%ff%fe", "%C3%A9", "a.b.c"],
        "<key>": ["A" * 32, "x" * 65, "%ff", "%C3%A9", ".."],
        "<path:filename>": ["x.css", "..%2fapp.py", "%00", "a/b"]}
AUTHORIZATIONS = ["Basic", "Basic !!!", "Basic bm9jb2xvbg==", "Basic //46/w==", "Basic cG9ydGFsOg==", "Basic Og==",
                  "Basic " + "A" * 20000, "Basic =", "Basic YQ", "Basic\tYTpi", "Basic YQA6Yg==", "Bearer", "Bearer ",
                  "Bearer garbage", "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer " + "a" * 9000,
                  "Digest x", H.basic()["Authorization"], H.basic("spa", "")["Authorization"],
                  H.basic("postclient")["Authorization"]]


def query(pairs):
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in pairs)


def latin1(v):  # what a header can carry
    return str(v).encode("utf-8", "surrogatepass").decode("latin-1").translate({10: 32, 13: 32, 0: 32})


class Fuzz:
    def __init__(self, app, seed):
        self.app, self.seed, self.rng = app, seed, Random(seed)
        self.adapter = app.url_map.bind("127.0.0.1:8000")
        self.hits, self.failures, self.sent, self.ips, self.good, self.label = Counter(), [], 0, 0, {}, ""

    def client(self, **kw):  # a browser on its own address: the per-IP sign-in block never stops the run
        self.ips += 1
        c = self.app.test_client(**kw)
        c.environ_base["REMOTE_ADDR"] = f"10.{self.seed}.{self.ips // 250}.{self.ips % 250}"
        return c

    def value(self, name=None):  # mostly GARBAGE, sometimes a valid value (a token) for that parameter
        rng, r = self.rng, self.rng.random()
        if r < 0.25 and name in self.good:
            return self.good[name]
        if r > 0.6 and name in ("redirect_uri", "post_logout_redirect_uri", "request_uri", "from"):
            return rng.choice(OFF_SITE)
        v = rng.choice(GARBAGE) if r < 0.75 else rng.choice(GARBAGE) + rng.choice(GARBAGE) if r < 0.85 \
            else "".join(rng.choice("a<>\"'%&=;\\/ \x01\x7f\u00e9\u4e2d😀\ud800") for _ in range(rng.randint(0, 30)))
        return v + rng.choice(MARKERS) if rng.random() < 0.2 else v  # a reflected value shows, wherever it lands

    def body(self, pairs):  # request arguments carrying `pairs`: mostly a form, sometimes not quite
        form, c = query(pairs).encode(), self.rng.random()
        if c < 0.6:
            return {"data": form, "content_type": FORM}
        if c < 0.7:
            return {"data": json.dumps(dict(pairs)), "content_type": "application/json"}
        if c < 0.8:  # (multipart can't carry a lone surrogate)
            return {"data": MultiDict([(k, v.encode("utf-8", "replace").decode()) for k, v in pairs]),
                    "content_type": "multipart/form-data"}
        data, ctype = self.rng.choice([
            (b"a=%ff%fe&b=%zz&c=\xff\xfe&" + form, FORM), (b"x" * 70000, FORM), (b"", ""),
            (b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx', "multipart/form-data; boundary=b"),
            (form, self.rng.choice(["text/plain", "", "multipart/form-data", "*/*", FORM + "; charset=utf-16"]))])
        return {"data": data, "content_type": ctype}

    def send(self, client, method, url, **kw):
        self.sent += 1
        with contextlib.suppress(HTTPException):  # count the route (not for a method it lacks)
            rule, _ = self.adapter.match(url.split("?")[0], method=method, return_rule=True)
            self.hits[f"{rule.endpoint} {rule.rule}"] += 1
        request = f"{self.label} {method} {url[:150]!r} " + ", ".join(f"{k}={v!r:.150}" for k, v in kw.items())
        try:
            r = client.open(url, method=method, **kw)
        except Exception as exc:  # TESTING: a view's exception propagates to here
            self.failures.append(f"{type(exc).__name__}: {str(exc)[:200]}\n    <- {request}")
            return None
        if r.status_code >= 500:
            self.failures.append(f"HTTP {r.status_code}\n    <- {request}")
        if r.mimetype == "text/html" and any(m in r.get_data().decode("utf-8", "replace") for m in MARKERS):
            self.failures.append(f"unescaped marker in the HTML\n    <- {request}")
        location = r.headers.get("Location", "")
        if location and not (re.match(r"/(?![/\\])", location) or location.startswith(ON_SITE)):
            self.failures.append(f"off-site Location {location[:200]!r}\n    <- {request}")
        return r

    def check(self):
        if self.failures:
            pytest.fail(f"seed {self.seed}: {len(self.failures)} of {self.sent} requests failed, the first:\n"
                        + "\n".join(self.failures[:8]), pytrace=False)


@pytest.fixture
def world(app, provider):
    H.register_client(provider), H.register_client(provider, tenant="perkeso")
    H.register_client(provider, client_id="postclient", auth_method="client_secret_post")
    H.register_client(provider, client_id="spa", auth_method="none",
                      grant_types=["authorization_code", "refresh_token"])
    H.register_client(provider, client_id="bcl", backchannel_logout_uri="https://127.0.0.1:9/bc")  # nobody listens
    H.make_user(provider)
    H.make_user(provider, username="bob", phone="0123456781", email="bob@example.com", national_id="800101-14-5678")
    return provider


@pytest.mark.parametrize("seed", SEEDS)
def test_every_route_with_and_without_a_session(app, world, seed):
    fz = Fuzz(app, seed)
    rng, signed_in = fz.rng, fz.client()
    tokens = H.exchange(signed_in, H.login(signed_in)["code"]).get_json()
    session = signed_in.get_cookie("idp_session", path="/t/kwsp").value
    fz.good = {"id_token_hint": tokens["id_token"], "token": tokens["access_token"], "client_id": "portal",
               "refresh_token": tokens["refresh_token"], "redirect_uri": H.REDIRECT, "scope": "openid profile",
               "grant_type": "authorization_code", "post_logout_redirect_uri": "https://rp.example/bye"}
    auths = AUTHORIZATIONS + ["Bearer " + tokens["access_token"], "Bearer " + tokens["id_token"]]
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for with_session in (False, True):
        browser = fz.client(use_cookies=False)
        for rule in rules:
            weight = 4 if rule.rule.endswith(("/authorize", "/token", "/logout", "/userinfo")) else 1
            for _ in range(ROUNDS * weight):
                path = re.sub(r"<[^>]+>", lambda m: rng.choice(FILL[m.group(0)]), rule.rule)
                pairs = list(H.auth_params(client_id=rng.choice(["portal", "spa", "postclient", "bcl"])).items()) \
                    if path.endswith(("/authorize", "/logout")) and rng.random() < 0.7 else []
                for name in rng.sample(PARAMS, rng.randint(0, 6)):
                    pairs = [p for p in pairs if p[0] != name] + [(name, fz.value(name))]
                if pairs and rng.random() < 0.1:
                    pairs.append(rng.choice(pairs))  # a repeated parameter
                cookies = [f"idp_session={session}"] if with_session else []
                if rng.random() < 0.4:
                    cookies.append(rng.choice(["idp_session=x", "idp_session=%ff", "idp_session=" + "A" * 6000,
                                               'idp_session="', "idp_interaction=" + latin1(fz.value()[:300])]))
                headers = {"Authorization": rng.choice(auths)} if rng.random() < 0.5 else {}
                if rng.random() < 0.1:
                    headers["Accept-Language"] = latin1(fz.value())[:1000]
                kw = {"headers": headers, "environ_overrides": {"HTTP_COOKIE": "; ".join(cookies)}}
                methods = sorted(rule.methods - {"HEAD", "OPTIONS"}) * 6 + ["PUT", "DELETE", "HEAD", "OPTIONS"]
                method = rng.choice(methods)
                q = query(pairs) + rng.choice(["&%zz=1", "&a=%ff%fe", "&" + "b" * 9000, "&x", "&=", "&&&"] + [""] * 54)
                if method in ("GET", "HEAD", "DELETE", "OPTIONS") or rng.random() < 0.3:
                    fz.send(browser, method, f"{path}?{q}", **kw)
                else:
                    fz.send(browser, method, path, **kw, **fz.body(pairs))
    fz.check()
    missed = {f"{r.endpoint} {r.rule}" for r in rules} - {k for k, n in fz.hits.items() if n >= MIN_HITS}
    assert not missed, f"routes reached fewer than {MIN_HITS} times: {sorted(missed)}"


def _stage(response):
    found = re.search(r'name="stage" value="(\d+)"', response.get_data(as_text=True))
    return found and found.group(1)


class Flows:
    """Each method opens a fresh browser on one interaction page: (browser, url, page, fields)."""

    def __init__(self, fz, provider):
        self.fz, self.p, self.n = fz, provider, 0  # n: the users it made

    def _user(self, prefix, temporary=False, **kw):
        self.n += 1
        name, kw = f"{prefix}{self.n}", {"phone": f"012{self.n:07d}", "email": f"{prefix}{self.n}@example.com", **kw}
        if temporary:  # an account waiting for its first sign-in, by SMS'd temporary password or activation code
            self.p.lifecycle.create(self.p.tenants["kwsp"], username=name, temporary=True, **kw)
        else:
            H.make_user(self.p, username=name, **kw)
        return name

    def _start(self, path):
        url = (b := self.fz.client()).get(path).headers["Location"]
        return b, url, b.get(url)

    def sign_in(self):
        url = H.authorize(b := self.fz.client(), client_id=self.fz.rng.choice(["portal", "bcl"])).headers["Location"]
        return b, url, b.get(url), ["username", "password"]

    def forgot_identify(self):
        return *self._start("/t/kwsp/account/forgot_password"), ["username", "national_id", "phone"]

    def forgot_tac(self):
        b, url, page = self._start("/t/kwsp/account/forgot_password")
        return b, url, H.follow(b, H.submit_form(b, page, url, username=self._user("rec"))), ["code", "resend"]

    def forgot_new_password(self):
        b, url, tac_page, _ = self.forgot_tac()
        code = re.search(r"\b(\d{6})\b", H.read_sms(self.p)["text"]).group(1)
        return b, url, H.follow(b, H.submit_form(b, tac_page, url, code=code)), ["new_password", "confirm_password"]

    def forgot_username(self):
        return *self._start("/t/kwsp/account/forgot_username"), ["national_id", "phone"]

    def activation(self):
        self._user("wakil", temporary=True, identity_type="employer")
        return *self._start("/t/kwsp/account/activation"), ["username", "activation_code"]

    def temporary_password(self):
        name = self._user("tmp", temporary=True, identity_type="member")
        temp = re.search(r"(?:sementara|temporary password) (\S+?)[.,]? ", H.read_sms(self.p)["text"]).group(1)
        url = H.authorize(b := self.fz.client()).headers["Location"]
        page = H.follow(b, H.submit_form(b, b.get(url), url, username=name, password=temp))
        return b, page.request.path, page, ["new_password", "confirm_password"]

    def logout(self):
        H.login(b := self.fz.client(), username=self._user("out"), client_id=self.fz.rng.choice(["portal", "bcl"]))
        return b, "/t/kwsp/logout", b.get("/t/kwsp/logout"), ["post_logout_redirect_uri", "state", "client_id",
                                                               "ui_locales", "id_token_hint", "logout_hint"]


SCENARIOS = ["sign_in", "forgot_identify", "forgot_tac", "forgot_new_password", "forgot_username", "activation",
             "temporary_password", "logout"]


@pytest.mark.parametrize("seed", SEEDS)
def test_interaction_pages_mid_flow(app, world, seed):
    """A valid interaction cookie and CSRF token, malformed fields; then the page's side links."""
    fz = Fuzz(app, seed)
    rng, flows = fz.rng, Flows(fz, world)
    for scenario in SCENARIOS:
        fz.label = scenario
        for _ in range(FLOW_ROUNDS):
            b, url, page, fields = getattr(flows, scenario)()
            html = page.get_data(as_text=True)
            token, stage = H.csrf(html), _stage(page)  # the page was reached, with its form
            for _ in range(8):
                form = [(f, fz.value(f)) for f in fields if rng.random() < 0.85]
                form += rng.choice([[("csrf_token", token)]] * 8
                                   + [[("csrf_token", fz.value())], [], [("csrf_token", token)] * 2])
                if stage and rng.random() < 0.7:
                    form.append(("stage", stage if rng.random() < 0.8 else fz.value()))
                if fields and rng.random() < 0.15:
                    form.append((f := rng.choice(fields), fz.value(f)))  # a field given twice
                method = "POST" if rng.random() < 0.9 else rng.choice(["GET", "PUT", "DELETE"])
                path = url if rng.random() < 0.9 else f"{url}?{query(form[:3])}"
                r = fz.send(b, method, path, **fz.body(form))
                if r is None or r.status_code in (302, 303) or (r.status_code == 200 and _stage(r) != stage):
                    break  # the flow moved on (or ended): a fresh one for the next round
            uid = H.interaction_uid(url)
            side = [f"{url}/cancel?{query([('csrf_token', fz.value())])}",
                    f"{url}?{query([('ui_locales', fz.value())])}",
                    f"/t/kwsp/authorize/resume/{uid}?{query([('x', fz.value())])}",
                    f"/t/kwsp/account/forgot_password?from={uid}",
                    f"/t/kwsp/account/forgot_password?{query([('from', fz.value())])}"]
            cancel = re.search(r'href="([^"]*/cancel\?csrf_token=[^"]+)"', html)
            if cancel and rng.random() < 0.5:
                side.append(cancel.group(1).replace("&amp;", "&"))  # the real cancel link, then resume
            for path in side + [f"/t/kwsp/authorize/resume/{uid}"]:
                fz.send(b, "GET", path)
    fz.check()


def test_resuming_a_finished_self_service_flow_is_not_a_500(app, world):
    """The larger run's one 500: a forgot-user-ID interaction, finished, then its resume URL (typed by hand)."""
    fz = Fuzz(app, 0)
    b, url, page, _ = Flows(fz, world).forgot_username()
    fz.send(b, "POST", url, data={"csrf_token": H.csrf(page.get_data(as_text=True)),
                                  "national_id": "800101-14-5678", "phone": "0123456781"})
    resumed = fz.send(b, "GET", f"/t/kwsp/authorize/resume/{url.rsplit('/', 1)[1]}")
    fz.check()
    assert resumed.status_code == 400  # the expired page
