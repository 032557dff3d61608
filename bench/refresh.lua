-- POST /token grant_type=refresh_token with client_secret_basic, one refresh token per request.
-- TOKENS (env): a file of refresh tokens, one a line (bench/signin.py tokens ...). They form a
-- pool: a request takes one out, its response puts the returned refresh_token back (the new one
-- where the server rotates, the same one where it does not). Keep more tokens than connections.
-- CLIENT_ID / CLIENT_SECRET (env) as in the peer's token_cc.lua. Prints the peer's RESULT line.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local peer = os.getenv("PEER_DIR") or (dir .. "../../shared/bench-peer/")
dofile(peer .. "report.lua")

local pool, starved = {}, 0
local file = os.getenv("TOKENS")
assert(file, "set TOKENS=<file of refresh tokens>")
for line in io.lines(file) do
  if #line > 0 then pool[#pool + 1] = line end
end

local function b64(data)
  local chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end

local auth = "Basic " .. b64((os.getenv("CLIENT_ID") or "bench-client") .. ":" .. (os.getenv("CLIENT_SECRET") or "bench-secret"))
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth }

request = function()
  local token = table.remove(pool)
  if token == nil then
    starved = starved + 1
    token = "pool-empty"  -- answered 400: counted as non-2xx
  end
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

response = function(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then pool[#pool + 1] = token end
end
