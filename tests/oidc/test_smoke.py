from tests.helpers import exchange, jwt_claims, login


def test_code_flow_smoke(browser, rp, user):
    result = login(browser)
    assert result["iss"] == "http://127.0.0.1:8000/t/kwsp"
    response = exchange(browser, result["code"])
    assert response.status_code == 200, response.json
    body = response.json
    assert jwt_claims(body["id_token"])["sub"] == user["id"]
    assert "refresh_token" in body
