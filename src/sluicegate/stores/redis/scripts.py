"""The Lua scripts that keep shared limits in Redis: each runs atomically on the server.

Why scripts: an admission must check every dimension of a request (requests, tokens,
input and output tokens, concurrency, a server-requested hold) and take from all of them
or from none, with no other client in between; a Lua script is the one thing Redis runs
without interleaving. Why the server's clock: every process reads the same ``TIME``, so
no client's clock skew can let it admit early. Time is in microseconds: Lua numbers are
doubles, exact to 2**53, and microseconds since 1970 are about 2**51 (nanoseconds would
not fit).

Every script takes the time as its first argument: an empty string means "read
``TIME``" (always, in production); tests pass their own to step through virtual time
against the real server.

The rate buckets are GCRA, as in :mod:`sluicegate.limits.gcra`, in microseconds: a
bucket key is a hash of ``t`` (the theoretical arrival time), ``c`` (every microsecond of
cost ever charged, for bounded refunds) and ``e`` (the moment the key was created: marks
from an earlier life of the key, after it expired idle, are not comparable). Numbers
cross the Lua boundary as strings formatted with ``%.17g``, since Redis truncates a Lua
number reply to an integer.
"""

from __future__ import annotations

__all__ = [
    "ADMIT",
    "BUDGET_RESERVE",
    "BUDGET_SETTLE",
    "CIRCUIT",
    "CLAIM",
    "CLAIM_RENEW",
    "HOLD",
    "PUBLISH",
    "RECORD_GET",
    "RECORD_PUT",
    "RELEASE",
    "RENEW",
    "SETTLE",
    "TRIP",
    "UNCLAIM",
]

_NOW = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function fmt(x) return string.format('%.17g', x) end
"""

ADMIT = (
    _NOW
    + """
-- KEYS: hold, rate buckets (n_rate), concurrency lease sets (n_cc)
-- ARGV: now, n_rate, n_cc, lease id, lease us, cc poll us,
--       then (interval us, burst, cost) per bucket, then limit per lease set
-- Returns {1, marks...} when admitted (marks: epoch, charged, per bucket), else
-- {0, wait us, hold us, concurrency full (0/1)}: nothing was taken.
local n_rate = tonumber(ARGV[2])
local n_cc = tonumber(ARGV[3])
local lease_id = ARGV[4]
local lease_us = tonumber(ARGV[5])
local poll_us = tonumber(ARGV[6])
local wait = 0
local hold_wait = 0
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > now then
  hold_wait = hold - now
  wait = hold_wait
end
local state = {}
for i = 1, n_rate do
  local base = 6 + (i - 1) * 3
  local interval = tonumber(ARGV[base + 1])
  local burst = tonumber(ARGV[base + 2])
  local cost = tonumber(ARGV[base + 3])
  local got = redis.call('HMGET', KEYS[1 + i], 't', 'c', 'e')
  local tat = tonumber(got[1]) or 0
  if tat < now then tat = now end
  local fit = cost
  if fit > burst then fit = burst end
  local over = tat + (fit - burst) * interval - now
  if over > wait then wait = over end
  state[i] = {tat, tonumber(got[2]) or 0, got[3], interval, cost}
end
local full = 0
for i = 1, n_cc do
  local key = KEYS[1 + n_rate + i]
  local limit = tonumber(ARGV[6 + 3 * n_rate + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= limit then
    full = 1
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local free_in = tonumber(first[2]) - now
    if free_in > poll_us then free_in = poll_us end
    if free_in > wait then wait = free_in end
  end
end
if wait > 0 then
  return {0, fmt(math.ceil(wait)), fmt(math.ceil(hold_wait)), full}
end
local reply = {1}
for i = 1, n_rate do
  local s = state[i]
  local scaled = s[5] * s[4]
  local tat = s[1] + scaled
  local charged = s[2] + scaled
  local epoch = s[3]
  if not epoch then epoch = fmt(now) end
  redis.call('HSET', KEYS[1 + i], 't', fmt(tat), 'c', fmt(charged), 'e', epoch)
  -- kept a minute past empty, so that the marks of requests in flight stay comparable
  redis.call('PEXPIRE', KEYS[1 + i], math.ceil((tat - now) / 1000) + 60000)
  reply[#reply + 1] = epoch
  reply[#reply + 1] = fmt(charged)
end
for i = 1, n_cc do
  local key = KEYS[1 + n_rate + i]
  redis.call('ZADD', key, now + lease_us, lease_id)
  redis.call('PEXPIRE', key, math.ceil(lease_us / 1000) * 2)
end
return reply
"""
)

SETTLE = (
    _NOW
    + """
-- KEYS: the reservation's once-marker, then its rate buckets (n)
-- ARGV: now, n, marker ttl ms, then (interval us, delta, epoch, mark) per bucket
-- Replaces an admission's estimated cost by the actual one, at most once per marker.
-- An extra cost is added as is; a refund never lowers a bucket below what an exact
-- replay of the true costs would give: below now plus what was charged since the mark.
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return 0 end
local n = tonumber(ARGV[2])
for i = 1, n do
  local base = 3 + (i - 1) * 4
  local interval = tonumber(ARGV[base + 1])
  local delta = tonumber(ARGV[base + 2])
  local epoch = ARGV[base + 3]
  local mark = tonumber(ARGV[base + 4])
  local key = KEYS[1 + i]
  local got = redis.call('HMGET', key, 't', 'c', 'e')
  local tat = tonumber(got[1])
  if delta > 0 then
    local scaled = delta * interval
    local base_tat = tat or now
    if base_tat < now then base_tat = now end
    local new = base_tat + scaled
    redis.call('HSET', key, 't', fmt(new), 'c', fmt((tonumber(got[2]) or 0) + scaled),
      'e', got[3] or fmt(now))
    redis.call('PEXPIRE', key, math.ceil((new - now) / 1000) + 60000)
  elseif delta < 0 and tat and got[3] == epoch then
    local floor = now + (tonumber(got[2]) - mark)
    local new = tat + delta * interval
    if new < floor then new = floor end
    if new < tat then redis.call('HSET', key, 't', fmt(new)) end
  end
end
return 1
"""
)

HOLD = (
    _NOW
    + """
-- KEYS: hold; ARGV: now, wait us. Nothing is admitted before now + wait (the latest of
-- every hold asked for); returns the wait now in force, in microseconds.
local until_us = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_us > current then
  redis.call('SET', KEYS[1], fmt(until_us), 'PX', math.ceil((until_us - now) / 1000) + 1000)
  current = until_us
end
return fmt(current - now)
"""
)

RELEASE = """
-- KEYS: lease sets; ARGV: lease id. Gives the request's concurrency slots back.
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""

RENEW = (
    _NOW
    + """
-- KEYS: lease sets; ARGV: now, lease us, then per set: count, lease ids...
-- Moves the expiry of this process's live leases to now + lease us; a lease that has
-- already expired (and so may have been given away) is not revived.
local lease_us = tonumber(ARGV[2])
local at = 3
for i = 1, #KEYS do
  local count = tonumber(ARGV[at])
  at = at + 1
  for j = 1, count do
    local score = redis.call('ZSCORE', KEYS[i], ARGV[at])
    if score and tonumber(score) > now then
      redis.call('ZADD', KEYS[i], now + lease_us, ARGV[at])
    end
    at = at + 1
  end
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease_us / 1000) * 2)
end
return 1
"""
)

TRIP = (
    _NOW
    + """
-- KEYS: a circuit; ARGV: now, break us, channel, message head.
-- Opens the circuit for every process until now + break (the latest asked for stays),
-- and tells the processes listening on the channel: message head .. '|' .. the break
-- left in microseconds (relative, so the listeners' own clocks need not agree with
-- Redis's). Returns the break left.
local until_us = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_us > current then
  redis.call('SET', KEYS[1], fmt(until_us), 'PX', math.ceil((until_us - now) / 1000) + 1000)
  current = until_us
end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. '|' .. fmt(current - now))
return fmt(current - now)
"""
)

CIRCUIT = (
    _NOW
    + """
-- KEYS: a circuit; ARGV: now. The break left on it, in microseconds (0: closed).
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > now then return fmt(current - now) end
return '0'
"""
)

_EXPIRE_RESERVATIONS = """
-- A reservation its process never settled (killed, cut off) is counted as spent when
-- it expires: nobody knows what the provider charged, and spent is the safe side.
local function expire(state, held, amounts)
  local stale = redis.call('ZRANGEBYSCORE', held, '-inf', now)
  for _, id in ipairs(stale) do
    local amount = tonumber(redis.call('HGET', amounts, id) or '0')
    redis.call('HINCRBYFLOAT', state, 'reserved', -amount)
    redis.call('HINCRBYFLOAT', state, 'spent', amount)
    redis.call('HDEL', amounts, id)
  end
  if #stale > 0 then redis.call('ZREMRANGEBYSCORE', held, '-inf', now) end
end
"""

BUDGET_RESERVE = (
    _NOW
    + _EXPIRE_RESERVATIONS
    + """
-- KEYS: per budget: its state (spent, reserved), its reservations' expiries, their
-- amounts (3 keys each). ARGV: now, reservation id, amount, reservation ttl us, keep ms,
-- then each budget's limit. Amounts are nano-USD.
-- Reserves the amount in every budget, or in none: {1}, or {0, index of the first
-- budget without room, its spent, its reserved}.
local id = ARGV[2]
local amount = tonumber(ARGV[3])
local ttl_us = tonumber(ARGV[4])
local keep_ms = tonumber(ARGV[5])
local n = #KEYS / 3
for i = 1, n do
  local state, held, amounts = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  expire(state, held, amounts)
  local got = redis.call('HMGET', state, 'spent', 'reserved')
  local spent = tonumber(got[1] or '0')
  local reserved = tonumber(got[2] or '0')
  if spent + reserved + amount > tonumber(ARGV[5 + i]) then
    return {0, i, fmt(spent), fmt(reserved)}
  end
end
for i = 1, n do
  local state, held, amounts = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  redis.call('HINCRBYFLOAT', state, 'reserved', amount)
  redis.call('ZADD', held, now + ttl_us, id)
  redis.call('HSET', amounts, id, fmt(amount))
  for _, key in ipairs({state, held, amounts}) do redis.call('PEXPIRE', key, keep_ms) end
end
return {1}
"""
)

BUDGET_SETTLE = (
    _NOW
    + _EXPIRE_RESERVATIONS
    + """
-- KEYS: as BUDGET_RESERVE's. ARGV: now, reservation id, actual cost (nano-USD), keep ms.
-- Replaces the reservation by the actual cost, once: a reservation already settled, or
-- expired into spent, is left alone.
local id = ARGV[2]
local actual = tonumber(ARGV[3])
local keep_ms = tonumber(ARGV[4])
for i = 1, #KEYS / 3 do
  local state, held, amounts = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local amount = redis.call('HGET', amounts, id)
  if amount then
    redis.call('HINCRBYFLOAT', state, 'reserved', -tonumber(amount))
    redis.call('HINCRBYFLOAT', state, 'spent', actual)
    redis.call('HDEL', amounts, id)
    redis.call('ZREM', held, id)
    for _, key in ipairs({state, held, amounts}) do redis.call('PEXPIRE', key, keep_ms) end
  end
  expire(state, held, amounts)
end
return 1
"""
)

CLAIM = """
-- KEYS: a record, its claim; ARGV: owner, claim ttl ms.
-- {1, record} if the answer is recorded; {2} if this owner now holds the claim (it
-- sends the request); {3} if another owner holds it (its request is on the wire).
local record = redis.call('GET', KEYS[1])
if record then return {1, record} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
if redis.call('GET', KEYS[2]) == ARGV[1] then return {2} end
return {3}
"""

CLAIM_RENEW = """
-- KEYS: claims; ARGV: owner, then a ttl ms per claim. Moves the expiry of each claim
-- this owner still holds; one that lapsed or another owner took is left alone.
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[i + 1])
  end
end
return 1
"""

UNCLAIM = """
-- KEYS: a claim; ARGV: owner. Gives the claim up if this owner still holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

RECORD_GET = """
-- KEYS: a record. The record, or false.
return redis.call('GET', KEYS[1])
"""

RECORD_PUT = """
-- KEYS: a record, its claim; ARGV: the record, ttl ms (0: no record), owner.
-- Keeps the answer and gives up the claim, in one step: a twin never finds neither.
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""

PUBLISH = """
-- ARGV: channel, message. (A script rather than the command, so that every call the
-- store makes goes one way: through run().)
return redis.call('PUBLISH', ARGV[1], ARGV[2])
"""
