"""The JWS registry every signature and verification here goes through.

RFC 9864 deprecates the polymorphic `EdDSA` name in favour of fully specified ones, and joserfc
warns on each use. Relying parties still ask for `EdDSA` (Ed25519 keys only here), so we offer it
deliberately and keep the warning out of every request.
"""
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

SIGNING_ALGORITHMS = ("RS256", "ES256", "EdDSA")
# what decoding a token from outside may raise: joserfc raises TypeError for some malformed
# headers ("crit": 1), besides its own errors and ValueError
UNREADABLE = (JoseError, ValueError, TypeError)


class _Registry(JWSRegistry):
    def get_alg(self, name):
        if name == "EdDSA" and self.allowed and name in self.allowed:
            return self.algorithms[name]
        return super().get_alg(name)


def registry(algorithms=SIGNING_ALGORITHMS) -> JWSRegistry:
    return _Registry(algorithms=list(algorithms))


REGISTRY = registry()
