"""OAuth 2 / OIDC: Authlib grants and endpoints, subclassed per spec. `server.py` wires them."""
