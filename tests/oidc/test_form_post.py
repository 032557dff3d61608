"""OIDF Form Post plan: the Basic modules with `response_mode=form_post` (OAuth 2.0 Form Post
Response Mode): an auto-submitting POST form to the registered redirect URI, `iss` included."""
import re
from html import unescape

from tests.helpers import REDIRECT, authorize, exchange, sign_in
from tests.oidc.support import ISSUER, validate_id_token


def form_fields(response) -> tuple[str, dict]:
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    action = unescape(re.search(r'<form method="post" action="([^"]*)"', html).group(1))
    fields = {unescape(n): unescape(v) for n, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', html)}
    return action, fields


def test_form_post_oidcc_server(browser, rp, user):
    final = sign_in(browser, authorize(browser, response_mode="form_post", state="fp-1", nonce="n-fp"))
    action, fields = form_fields(final)
    assert action == REDIRECT
    assert fields["state"] == "fp-1" and fields["iss"] == ISSUER
    body = exchange(browser, fields["code"]).json
    validate_id_token(browser, body["id_token"], nonce="n-fp", access_token=body["access_token"])


def test_form_post_oidcc_response_type_missing(browser, rp):
    response = authorize(browser, response_type=None, response_mode="form_post", state="fp-rt")
    action, fields = form_fields(response)
    assert action == REDIRECT
    assert fields == {"error": "unsupported_response_type", "error_description": "response_type is missing",
                      "state": "fp-rt", "iss": ISSUER}
    assert ".submit()" in response.get_data(as_text=True)  # posts itself, no click needed


def test_form_post_response_not_cached_and_framing_denied(browser, rp, user):
    final = sign_in(browser, authorize(browser, response_mode="form_post"))
    assert final.headers["Cache-Control"] == "no-store"
    assert final.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in final.headers["Content-Security-Policy"]


def test_form_post_auto_submits_under_csp_nonce(browser, rp, user):
    final = sign_in(browser, authorize(browser, response_mode="form_post"))
    html = final.get_data(as_text=True)
    nonce = re.search(r'<script nonce="([^"]+)">', html).group(1)
    assert f"'nonce-{nonce}'" in final.headers["Content-Security-Policy"]
    assert ".submit()" in html


def test_form_post_prompt_none_not_logged_in(browser, rp, user):
    action, fields = form_fields(authorize(browser, response_mode="form_post", prompt="none", state="fp-2"))
    assert action == REDIRECT
    fields.pop("error_description", None)
    assert fields == {"error": "login_required", "state": "fp-2", "iss": ISSUER}


def test_form_post_session_answers_at_once(browser, rp, user):
    sign_in(browser, authorize(browser, response_mode="form_post"))
    action, fields = form_fields(authorize(browser, response_mode="form_post", state="fp-3"))
    assert fields["state"] == "fp-3" and "code" in fields


def test_form_post_values_are_escaped(browser, rp, user):
    state = '"><script>alert(1)</script>'
    response = authorize(browser, response_mode="form_post", prompt="none", state=state)
    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert form_fields(response)[1]["state"] == state


def test_form_post_unregistered_redirect_uri_gets_error_page(browser, rp):
    response = authorize(browser, response_mode="form_post", redirect_uri="https://attacker.example/cb")
    assert response.status_code == 400
    assert "attacker.example" not in response.get_data(as_text=True)


def test_form_post_error_for_request_object(browser, rp):
    action, fields = form_fields(authorize(browser, response_mode="form_post", request="x.y.z"))
    assert action == REDIRECT and fields["error"] == "request_not_supported" and fields["iss"] == ISSUER
