"""Rich Authorization Requests (RFC 9396) at the token endpoint: the details the user approved
come back in the token response (section 7) and in the access token (section 9.1). They are
validated at the authorization endpoint (idp/assurance.py) and ride in the code."""


class AuthorizationDetailsExtension:
    def __call__(self, grant):
        grant.register_hook("after_create_token_response", self.add_to_response)

    @staticmethod
    def add_to_response(grant, response):
        _, token, _ = response
        user = grant.request.user
        if user is not None and getattr(user, "authorization_details", None):
            token["authorization_details"] = user.authorization_details
        return token
