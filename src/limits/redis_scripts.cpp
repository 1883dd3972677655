#include "redis_scripts.hpp"

namespace cic::limits::detail {

ScopeKeys scope_keys(const std::string& prefix, const std::string& reservation_id, const std::string& key_id,
                     const std::string& environment_id, const std::string& org_id, std::int64_t minute,
                     std::int64_t month) {
  const std::string k = prefix + "k:" + key_id;
  const std::string e = prefix + "e:" + environment_id;
  const std::string o = prefix + "o:" + org_id;
  const std::string m = std::to_string(minute);
  const std::string mo = std::to_string(month);
  return {prefix + "res:" + reservation_id,
          k + ":conc",
          e + ":conc",
          k + ":rpm:" + m,
          e + ":rpm:" + m,
          k + ":tpm:" + m,
          e + ":tpm:" + m,
          e + ":tok:" + mo,
          o + ":tok:" + mo,
          e + ":spend:" + mo,
          o + ":spend:" + mo};
}

// Same checks and order as LocalLimiter (local_decision.cpp): unpriced first, then key
// concurrency, env concurrency, key rpm, env rpm, key tpm, env tpm, env monthly tokens, org
// monthly tokens, env spend, org spend; "fits" = used + asked <= limit, a limit of 0 is none,
// usage is counted regardless of limits. Both concurrency scopes are sorted sets of the open
// reservation ids (scored by admit time), so a slot nobody settled expires after the
// reservation TTL in the environment's set as in the key's.
const char* const kAdmitScript = R"lua(
local id = ARGV[1]
local now = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local priced = ARGV[5] == '1'
local lim = {}
for i = 1, 10 do lim[i] = tonumber(ARGV[5 + i]) end
local window_ttl = tonumber(ARGV[16])
local month_ttl = tonumber(ARGV[17])
local res_ttl = tonumber(ARGV[18])

if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} end

-- Concurrency slots older than the reservation TTL belong to requests nobody settled.
local used = {}
for i = 2, 3 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - res_ttl)
  used[i - 1] = redis.call('ZCARD', KEYS[i])
end
for i = 4, 11 do used[i - 1] = tonumber(redis.call('GET', KEYS[i]) or '0') end
local ask = {1, 1, 1, 1, tokens, tokens, tokens, tokens, cost, cost}

local function reply(status, check)
  return {status, check, used[1], used[2], used[3], used[4], used[5], used[6], used[7], used[8], used[9],
          used[10]}
end

if not priced and (lim[9] > 0 or lim[10] > 0) then return reply(0, 0) end
for i = 1, 10 do
  if lim[i] > 0 and ask[i] > lim[i] - used[i] then return reply(0, i) end
end

for i = 2, 3 do
  redis.call('ZADD', KEYS[i], now, id)
  redis.call('PEXPIRE', KEYS[i], res_ttl)
end
for i = 4, 11 do
  redis.call('INCRBY', KEYS[i], ask[i - 1])
  redis.call('PEXPIRE', KEYS[i], i <= 7 and window_ttl or month_ttl)
end
redis.call('HSET', KEYS[1], 't', tokens, 'c', cost)
redis.call('PEXPIRE', KEYS[1], res_ttl)
return reply(1, 11)
)lua";

// Moves token and spend counters by (actual - reserved), never below 0, only where the counter
// still exists (an ended window has expired or nobody reads it anymore).
const char* const kSettleScript = R"lua(
local ttl = tonumber(ARGV[4])
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' then
  if kind == 'none' then redis.call('SET', KEYS[1], '0', 'PX', ttl) end
  return 0
end
local dt = tonumber(ARGV[2]) - tonumber(redis.call('HGET', KEYS[1], 't'))
local dc = tonumber(ARGV[3]) - tonumber(redis.call('HGET', KEYS[1], 'c'))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local function adjust(key, delta)
  if delta ~= 0 and redis.call('EXISTS', key) == 1 then
    if redis.call('INCRBY', key, delta) < 0 then redis.call('SET', key, '0', 'KEEPTTL') end
  end
end
adjust(KEYS[6], dt)
adjust(KEYS[7], dt)
adjust(KEYS[8], dt)
adjust(KEYS[9], dt)
adjust(KEYS[10], dc)
adjust(KEYS[11], dc)
redis.call('SET', KEYS[1], '0', 'PX', ttl)
return 1
)lua";

const char* const kReconcileScript = R"lua(
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[1])) == false then return 0 end
for i = 2, #KEYS do
  local delta = tonumber(ARGV[2 * i - 2])
  local ttl = tonumber(ARGV[2 * i - 1])
  if delta ~= 0 then
    if redis.call('INCRBY', KEYS[i], delta) < 0 then redis.call('SET', KEYS[i], '0', 'KEEPTTL') end
  end
  if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
)lua";

}  // namespace cic::limits::detail
