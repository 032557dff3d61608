"""The production ephemeral store on Redis. Atomic paths use GETDEL and Lua.

Entries written under a grant are also listed in a set `grant:<id>`, so `revoke_family`
deletes the whole family in one script. An account's grants are entries `account_grant:<grant>`
of the family `grants:<account>`, so `revoke_account_grants` finds them in one script too.
"""
import json
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from flows.ports import Successor
from . import ACCOUNT_GRANT, account_grants, fit_id

_REVOKE = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
local deleted = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do deleted = deleted + redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return deleted
"""
_REVOKE_LISTED = """
local grants = 0
for _, listed in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('DEL', listed) == 1 then  -- still live: its grant may have tokens
    local grant = string.sub(listed, #ARGV[3] + 1)
    redis.call('SET', ARGV[2] .. 'revoked_grant:' .. grant, '1', 'PX', ARGV[1])
    local family = ARGV[2] .. 'grant:' .. grant
    for _, key in ipairs(redis.call('SMEMBERS', family)) do redis.call('DEL', key) end
    redis.call('DEL', family)
    grants = grants + 1
  end
end
redis.call('DEL', KEYS[1])
return grants
"""
_RETIRE = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
if ARGV[3] == '1' then  -- only the named client's entry moves
  local ok, entry = pcall(cjson.decode, value)
  if not ok or type(entry) ~= 'table' or entry.client_id ~= ARGV[2] then return false end
end
if ARGV[1] == '' then
  redis.call('RENAME', KEYS[1], KEYS[2])  -- keeps the expiry
else
  redis.call('SET', KEYS[2], value, 'PX', ARGV[1])
  redis.call('DEL', KEYS[1])
end
if #KEYS == 3 then  -- the grant's family lists the tombstone instead (revoking it ends both)
  redis.call('SREM', KEYS[3], KEYS[1])
  redis.call('SADD', KEYS[3], KEYS[2])
end
return value
"""
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if #KEYS == 2 then
  redis.call('SADD', KEYS[2], KEYS[1])
  -- the family index lives as long as its longest member
  redis.call('PEXPIRE', KEYS[2], ARGV[2], 'GT')
  redis.call('PEXPIRE', KEYS[2], ARGV[2], 'NX')
end
"""
_ROTATE = """
if redis.call('EXISTS', KEYS[5]) == 1 then return 'revoked' end
local value = redis.call('GET', KEYS[1])
if not value then return 'spent' end
local ok, entry = pcall(cjson.decode, value)
if not ok or type(entry) ~= 'table' or entry.client_id ~= ARGV[1] then return 'spent' end
if ARGV[2] == '' then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  redis.call('SET', KEYS[2], value, 'PX', ARGV[2])
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
-- the family lists the tombstone instead of the spent key (revoking it ends both, as in SQL),
-- so the set does not grow by a dead name at every rotation
redis.call('SREM', KEYS[4], KEYS[1])
redis.call('SADD', KEYS[4], KEYS[2], KEYS[3])
redis.call('PEXPIRE', KEYS[4], ARGV[4], 'GT')
redis.call('PEXPIRE', KEYS[4], ARGV[4], 'NX')
return 'rotated'
"""
_REPLACE_IF = """
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RedisStore:
    def __init__(self, client: redis.Redis, prefix: str = "idp:"):
        self.r = client
        self.prefix = prefix
        self._revoke = client.register_script(_REVOKE)
        self._revoke_listed = client.register_script(_REVOKE_LISTED)
        self._incr = client.register_script(_INCR)
        self._replace_if = client.register_script(_REPLACE_IF)
        self._retire = client.register_script(_RETIRE)
        self._rotate = client.register_script(_ROTATE)
        self._put = client.register_script(_PUT)  # one round trip (a MULTI pipeline costs ~20 % more)

    @classmethod
    def from_url(cls, url: str, prefix: str = "idp:"):
        if url.startswith(("redis+sentinel://", "rediss+sentinel://")):
            return cls(sentinel_master(url), prefix)
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), prefix)

    def _key(self, kind, id):
        return f"{self.prefix}{kind}:{fit_id(id)}"

    def put(self, kind, id, payload, ttl, grant_id=None):
        key, ms = self._key(kind, id), max(1, int(ttl * 1000))
        keys = [key, self._key("grant", grant_id)] if grant_id else [key]
        self._put(keys=keys, args=[json.dumps(payload), ms])

    def replace(self, kind, id, payload, ttl, expect=None):
        # XX: only when present; the key stays a member of its grant's family set
        key, raw, ms = self._key(kind, id), json.dumps(payload), max(1, int(ttl * 1000))
        if expect is not None:  # written as json.dumps wrote it: the same dict gives the same text
            return bool(self._replace_if(keys=[key], args=[raw, ms, json.dumps(expect)]))
        return bool(self.r.set(key, raw, px=ms, xx=True))

    def get(self, kind, id):
        raw = self.r.get(self._key(kind, id))
        return json.loads(raw) if raw is not None else None

    def consume(self, kind, id):
        raw = self.r.getdel(self._key(kind, id))
        return json.loads(raw) if raw is not None else None

    def retire(self, kind, id, to_kind, ttl=None, client_id=None, grant_id=None):
        ms = "" if ttl is None else max(1, int(ttl * 1000))
        owned = ("", "") if client_id is None else (client_id, "1")
        keys = [self._key(kind, id), self._key(to_kind, id)] + ([self._key("grant", grant_id)] if grant_id else [])
        raw = self._retire(keys=keys, args=[ms, *owned])
        return json.loads(raw) if raw is not None else None

    def rotate(self, kind, id, to_kind, client_id, successor: Successor, ttl=None):
        # _RETIRE and _PUT, refused for a revoked grant, in one script: one round trip, and atomic
        keys = [self._key(kind, id), self._key(to_kind, id), self._key(successor.kind, successor.id),
                self._key("grant", successor.grant_id), self._key("revoked_grant", successor.grant_id)]
        args = [client_id, "" if ttl is None else max(1, int(ttl * 1000)), json.dumps(successor.payload),
                max(1, int(successor.ttl * 1000))]
        outcome = self._rotate(keys=keys, args=args)
        return outcome.decode() if isinstance(outcome, bytes) else outcome  # (decode_responses in the URL)

    def delete(self, kind, id, *more):
        self.r.delete(*(self._key(kind, i) for i in (id, *more)))

    def revoke_family(self, grant_id, mark_ttl):
        keys = [self._key("grant", grant_id), self._key("revoked_grant", grant_id)]
        return int(self._revoke(keys=keys, args=[max(1, int(mark_ttl * 1000))]))

    def family(self, grant_id):
        keys = self.r.smembers(self._key("grant", grant_id))
        return [json.loads(raw) for raw in (self.r.mget(sorted(keys)) if keys else []) if raw is not None]

    def add_account_grant(self, account_id, grant_id, ttl):
        self.put(ACCOUNT_GRANT, grant_id, {"grant": grant_id}, ttl, grant_id=account_grants(account_id))

    def revoke_account_grants(self, account_id, mark_ttl):
        keys = [self._key("grant", account_grants(account_id))]
        args = [max(1, int(mark_ttl * 1000)), self.prefix, self._key(ACCOUNT_GRANT, "")]
        return int(self._revoke_listed(keys=keys, args=args))

    def is_revoked(self, grant_id):
        return bool(self.r.exists(self._key("revoked_grant", grant_id)))

    def incr(self, key, ttl):
        return int(self._incr(keys=[self._key("counter", key)], args=[max(1, int(ttl * 1000))]))

    def ping(self):
        self.r.ping()


def sentinel_master(url: str) -> redis.Redis:
    """`redis+sentinel://[user:password@]host:port[,host:port...]/<service>[/<db>]` (rediss+ for
    TLS): the master the Sentinels name for `service`, looked up again after a failover (redis-py
    asks the Sentinels whenever its connection to the old master fails). The password is the
    master's; Sentinels without one are asked without."""
    parts = urlsplit(url)
    auth, _, hosts = parts.netloc.rpartition("@")
    username, _, password = auth.partition(":")
    sentinels = []
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":")
        if not colon or not port.isdigit() or not name:
            raise ValueError(f"IDP_REDIS_URL: {host!r} is not host:port (each Sentinel)")
        sentinels.append((name.strip("[]"), int(port)))
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("IDP_REDIS_URL: a Sentinel URL ends in /<service name>[/<database number>]")
    timeouts = {"socket_timeout": 2, "socket_connect_timeout": 2}
    return Sentinel(sentinels, **timeouts).master_for(
        path[0], db=int(path[1]) if len(path) == 2 else 0, username=unquote(username) or None,
        password=unquote(password) or None, ssl=parts.scheme.startswith("rediss"), **timeouts)
