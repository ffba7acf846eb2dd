import { LuaScript } from './lua-script.js';

/**
 * Hash fields of a session record. Data keys are stored as `d:<key>`, so no session key can
 * collide with a meta field.
 */
export const FIELD = {
  data: 'd:',
  createdAt: 'm:c',
  expiresAt: 'm:e',
  principal: 'm:p',
  /** Until when the principal's index is known to list this session (epoch ms). */
  indexedUntil: 'm:x',
} as const;

/** Replies of {@link WRITE_SCRIPT}. */
export const WRITE_GONE = 0;
export const WRITE_DONE = 1;
export const WRITE_NEEDS_INDEX = 2;

/**
 * Creates, replaces (`set`) or merges into (`merge`: patch and touch) one session hash and sets its
 * TTL, atomically. A merge of a missing or expired record writes nothing.
 *
 * KEYS[1] the session hash.
 * ARGV[1] `set` or `merge`; ARGV[2] now; ARGV[3] expiresAt (whole ms); ARGV[4] createdAt (`set` only);
 * ARGV[5] principal action: `k` keep, `s` set to ARGV[6], `d` delete; ARGV[6] principal;
 * ARGV[7] a principal whose index already lists this session until ARGV[8] (`0`: none);
 * ARGV[9] n, the number of fields to delete that follow; then field/value pairs to set.
 *
 * Replies `{0}` when a merge found no live record; `{2, principal}` without writing when the
 * principal's index does not yet list the session until its new expiry (the caller indexes it and
 * runs the script again); `{1, 1, old}` when written and the session left principal `old`
 * (the caller removes it from that index), else `{1, 0, ''}`.
 */
export const WRITE_SCRIPT = new LuaScript(`
local key = KEYS[1]
local now = tonumber(ARGV[2])
local expiresAt = tonumber(ARGV[3])
local meta = redis.call('HMGET', key, '${FIELD.expiresAt}', '${FIELD.principal}', '${FIELD.indexedUntil}')
if ARGV[1] == 'merge' and (not meta[1] or tonumber(meta[1]) <= now) then
  return {0}
end
local old = meta[2]
local principal = old
if ARGV[5] == 's' then
  principal = ARGV[6]
elseif ARGV[5] == 'd' then
  principal = false
end
if expiresAt <= now then
  redis.call('DEL', key)
  if old then return {1, 1, old} end
  return {1, 0, ''}
end
local indexedUntil = false
if principal then
  if ARGV[8] ~= '0' and ARGV[7] == principal and tonumber(ARGV[8]) >= expiresAt then
    indexedUntil = ARGV[8]
  elseif principal == old and meta[3] and tonumber(meta[3]) >= expiresAt then
    indexedUntil = meta[3]
  else
    return {2, principal}
  end
end
if ARGV[1] == 'set' then
  redis.call('DEL', key)
  redis.call('HSET', key, '${FIELD.createdAt}', ARGV[4])
end
-- Fields go to HDEL and HSET in as few calls as possible (each call from a script costs Redis
-- more than the command itself), straight from ARGV, or in batches of at most 1000 arguments so
-- that unpack() stays far below Lua's stack limit.
local deletes = tonumber(ARGV[9])
for i = 10, 9 + deletes, 500 do
  redis.call('HDEL', key, unpack(ARGV, i, math.min(i + 499, 9 + deletes)))
end
if not principal and (meta[2] or meta[3]) then
  redis.call('HDEL', key, '${FIELD.principal}', '${FIELD.indexedUntil}')
end
local first = 10 + deletes
if #ARGV - first < 990 then
  if principal then
    redis.call('HSET', key, '${FIELD.expiresAt}', ARGV[3], '${FIELD.principal}', principal, '${FIELD.indexedUntil}', indexedUntil, unpack(ARGV, first))
  else
    redis.call('HSET', key, '${FIELD.expiresAt}', ARGV[3], unpack(ARGV, first))
  end
else
  local batch = {'${FIELD.expiresAt}', ARGV[3]}
  if principal then
    batch[3] = '${FIELD.principal}'
    batch[4] = principal
    batch[5] = '${FIELD.indexedUntil}'
    batch[6] = indexedUntil
  end
  for i = first, #ARGV, 2 do
    batch[#batch + 1] = ARGV[i]
    batch[#batch + 1] = ARGV[i + 1]
    if #batch >= 1000 then
      redis.call('HSET', key, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then
    redis.call('HSET', key, unpack(batch))
  end
end
redis.call('PEXPIREAT', key, ARGV[3])
if old and old ~= principal then return {1, 1, old} end
return {1, 0, ''}
`);

/**
 * Adds a session to a principal's index, a sorted set scored by the time until which each member
 * may be live. Members whose score has passed are dead sessions and are pruned; the set expires
 * with its highest score, so it never outlives the sessions it lists and never expires before them.
 *
 * KEYS[1] the index; ARGV[1] now; ARGV[2] session ID; ARGV[3] until (epoch ms).
 */
export const INDEX_SCRIPT = new LuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[2])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], string.format('%d', math.ceil(tonumber(top[2]))))
return 1
`);

/**
 * Deletes a session hash only if it still belongs to the principal ARGV[1], so a session that
 * changed hands meanwhile survives a "log out everywhere" of its former owner.
 *
 * KEYS[1] the session hash; ARGV[1] principal; ARGV[2] now. Replies 0 when the session is not the
 * principal's (or gone), 1 when a live session was deleted, 2 when an expired one was.
 */
export const DESTROY_OWNED_SCRIPT = new LuaScript(`
local meta = redis.call('HMGET', KEYS[1], '${FIELD.principal}', '${FIELD.expiresAt}')
if meta[1] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local expiresAt = tonumber(meta[2])
if expiresAt and expiresAt > tonumber(ARGV[2]) then return 1 end
return 2
`);

/**
 * Takes a lock that is free or already held by the same owner (then extending it), atomically:
 * what {@link RedisStore.tryLock} runs when `SET … NX` found the key taken, since it may be the
 * caller's own lock, or one released in between.
 *
 * KEYS[1] the lock; ARGV[1] owner; ARGV[2] ttl (ms). Replies 1 when the owner holds it now, else 0.
 */
export const RELOCK_SCRIPT = new LuaScript(`
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`);

/**
 * Deletes a lock only if ARGV[1] holds it (compare and delete).
 *
 * KEYS[1] the lock; ARGV[1] owner. Replies 1 when deleted, else 0.
 */
export const UNLOCK_SCRIPT = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);
