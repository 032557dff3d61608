"""PKCE (RFC 7636) as RFC 9700 2.1.1 wants it: S256 only, required for public clients (and for
confidential ones registered with --require-pkce), and a `code_verifier` without a challenge
rejected (Authlib's CodeChallenge does the last part)."""
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge


class S256CodeChallenge(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if grant.request.client.requires_pkce and not challenge:
            raise InvalidRequestError("PKCE (code_challenge with S256) is required for this client")
        if challenge and method != "S256":
            # an absent method means "plain" (RFC 7636 4.3), which we do not accept
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)
