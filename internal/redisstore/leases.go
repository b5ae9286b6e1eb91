package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// Queue leases live in two keys sharing a hash tag (one slot on a
// Cluster): a sorted set of job IDs scored by their lease's deadline in Unix
// milliseconds, and a hash from job ID to owner. Deadlines are taken from
// Redis's own clock (TIME), so the gateways' clocks need not agree.
func (s *Store) leaseKeys() []string {
	return []string{s.opts.prefix + "{queueleases}:deadlines", s.opts.prefix + "{queueleases}:owners"}
}

// leaseScript acquires, renews or releases one lease.
//
// KEYS: deadlines, owners. ARGV: mode (acquire|renew|release), job, owner,
// TTL (ms). Returns 1 when done, 0 when another owner holds the lease (or,
// for renew and release, when owner does not hold it).
var leaseScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if ARGV[1] == 'release' then
  if cur ~= ARGV[3] then
    return 0
  end
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 1
end
if cur ~= ARGV[3] and (cur or ARGV[1] == 'renew') then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
return 1
`)

// claimScript hands the leases that ran out to a new owner.
//
// KEYS: deadlines, owners. ARGV: owner, TTL (ms), max. Returns the job IDs.
var claimScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('HSET', KEYS[2], id, ARGV[1])
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
end
return ids
`)

// AcquireQueueLease takes or extends a queue lease; see store.QueueLeases.
func (s *Store) AcquireQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	return s.lease(ctx, "acquire", jobID, owner, ttl)
}

// RenewQueueLease extends a queue lease owner holds; see store.QueueLeases.
func (s *Store) RenewQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	return s.lease(ctx, "renew", jobID, owner, ttl)
}

// ReleaseQueueLease ends a queue lease owner holds; see store.QueueLeases.
func (s *Store) ReleaseQueueLease(ctx context.Context, jobID, owner string) error {
	return s.lease(ctx, "release", jobID, owner, time.Millisecond)
}

func (s *Store) lease(ctx context.Context, mode, jobID, owner string, ttl time.Duration) error {
	if err := store.CheckQueueLease(jobID, owner, ttl); err != nil {
		return fmt.Errorf("redisstore: %s queue lease: %w", mode, err)
	}
	n, err := leaseScript.Run(ctx, s.c, s.leaseKeys(), mode, jobID, owner, leaseMillis(ttl)).Int()
	if err != nil {
		return fmt.Errorf("redisstore: %s queue lease of job %s: %w", mode, jobID, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: %s queue lease of job %s: held by another owner: %w", mode, jobID, store.ErrConflict)
	}
	return nil
}

// ClaimQueueLeases takes the queue leases that ran out; see
// store.QueueLeases.
func (s *Store) ClaimQueueLeases(ctx context.Context, owner string, ttl time.Duration, max int) ([]string, error) {
	if err := store.CheckLeaseClaim(owner, ttl, max); err != nil {
		return nil, fmt.Errorf("redisstore: claim queue leases: %w", err)
	}
	ids, err := claimScript.Run(ctx, s.c, s.leaseKeys(), owner, leaseMillis(ttl), max).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: claim queue leases: %w", err)
	}
	return ids, nil
}

// leaseMillis is ttl in whole milliseconds, at least one.
func leaseMillis(ttl time.Duration) int64 {
	return max(ttl.Milliseconds(), 1)
}
