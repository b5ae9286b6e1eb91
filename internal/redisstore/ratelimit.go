package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
)

// Rate-limit windows. With the default prefix, the windows of scope <s> are
//
//	stele:{rl:<s>}:w      hash: action pattern -> "count start period limit"
//	                      (start in Unix ms; numbers as %.17g, exact for doubles)
//	stele:{rl:<s>}:order  list: the patterns in creation order
//
// Both expire together: every call that touches a window makes their TTL at
// least the time that window still has to run plus one more period plus a
// minute, so a scope nobody uses vanishes while no live window is lost. A
// window that is gone behaves as a fresh one would (count 0, starting now);
// only its place in RateStates changes.

// rateScript creates, resets and counts windows like audit.MemoryRateLimiter,
// in one atomic step.
//
// KEYS: windows hash, order list.
// ARGV: now (Unix ms), acquire (1) or check only (0), then the check limit
// and, when acquiring, every limit to count: action, count, period seconds.
// Returns {count, limit} of the check window before counting, as strings.
var rateScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local pttl0 = redis.call('PTTL', KEYS[1])
local need = 0
local function fmt(x) return string.format('%.17g', x) end
local function window(a, lim, per)
  local v = redis.call('HGET', KEYS[1], a)
  local cnt, start, p, l
  if v then
    local c1, s1, p1, l1 = string.match(v, '^(%S+) (%S+) (%S+) (%S+)$')
    cnt, start, p, l = tonumber(c1), tonumber(s1), tonumber(p1), tonumber(l1)
  else
    cnt, start, p, l = 0, now, tonumber(per), tonumber(lim)
    redis.call('RPUSH', KEYS[2], a)
  end
  if now - start >= p * 1000 then
    cnt, start = 0, now
  end
  return cnt, start, p, l
end
local function save(a, cnt, start, p, l)
  redis.call('HSET', KEYS[1], a, fmt(cnt) .. ' ' .. fmt(start) .. ' ' .. fmt(p) .. ' ' .. fmt(l))
  local n = start + 2 * p * 1000 - now + 60000
  if n > need then need = n end
end
local cnt, start, p, l = window(ARGV[3], ARGV[4], ARGV[5])
save(ARGV[3], cnt, start, p, l)
if ARGV[2] == '1' and cnt < l then
  for i = 6, #ARGV, 3 do
    local c2, s2, p2, l2 = window(ARGV[i], ARGV[i + 1], ARGV[i + 2])
    save(ARGV[i], c2 + 1, s2, p2, l2)
  end
end
if pttl0 ~= -1 then
  if need > 3e12 then
    redis.call('PERSIST', KEYS[1])
    redis.call('PERSIST', KEYS[2])
  elseif pttl0 < need then
    local ms = string.format('%.0f', math.ceil(need))
    redis.call('PEXPIRE', KEYS[1], ms)
    redis.call('PEXPIRE', KEYS[2], ms)
  end
end
return {fmt(cnt), fmt(l)}
`)

// statesScript lists the windows in creation order.
//
// KEYS: windows hash, order list.
// Returns action, value pairs flattened.
var statesScript = redis.NewScript(`
local order = redis.call('LRANGE', KEYS[2], 0, -1)
local out = {}
for _, a in ipairs(order) do
  local v = redis.call('HGET', KEYS[1], a)
  if v then
    out[#out + 1] = a
    out[#out + 1] = v
  end
end
return out
`)

func (s *Store) rateKeys(scope string) []string {
	p := s.opts.prefix + "{rl:" + scope + "}:"
	return []string{p + "w", p + "order"}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// CheckRate is audit.RateLimiter.Check; see store.RateLimits.
func (s *Store) CheckRate(ctx context.Context, scope string, limit audit.Limit, now time.Time) (audit.RateStatus, error) {
	st, err := s.rate(ctx, scope, limit, nil, false, now)
	if err != nil {
		return audit.RateStatus{}, fmt.Errorf("redisstore: rate limit check %s: %w", scope, err)
	}
	return st, nil
}

// AcquireRate is audit.RateLimiter.Acquire: one script call checks the
// window of check and counts every limit in all, atomically across
// processes. now is the caller's clock (millisecond precision).
func (s *Store) AcquireRate(ctx context.Context, scope string, check audit.Limit, all []audit.Limit, now time.Time) (audit.RateStatus, error) {
	st, err := s.rate(ctx, scope, check, all, true, now)
	if err != nil {
		return audit.RateStatus{}, fmt.Errorf("redisstore: rate limit acquire %s: %w", scope, err)
	}
	return st, nil
}

func (s *Store) rate(ctx context.Context, scope string, check audit.Limit, all []audit.Limit, acquire bool, now time.Time) (audit.RateStatus, error) {
	if err := store.CheckRateArgs(scope, check, all, acquire); err != nil {
		return audit.RateStatus{}, err
	}
	flag := "0"
	if acquire {
		flag = "1"
	}
	args := make([]any, 0, 5+3*len(all))
	args = append(args, now.UnixMilli(), flag, check.Action, fmtFloat(check.Count), fmtFloat(check.PeriodSeconds))
	if acquire {
		for _, l := range all {
			args = append(args, l.Action, fmtFloat(l.Count), fmtFloat(l.PeriodSeconds))
		}
	}
	vals, err := rateScript.Run(ctx, s.c, s.rateKeys(scope), args...).StringSlice()
	if err != nil {
		return audit.RateStatus{}, err
	}
	if len(vals) != 2 {
		return audit.RateStatus{}, fmt.Errorf("unexpected rate script reply %v", vals)
	}
	count, err1 := strconv.ParseFloat(vals[0], 64)
	limit, err2 := strconv.ParseFloat(vals[1], 64)
	if err1 != nil || err2 != nil {
		return audit.RateStatus{}, fmt.Errorf("unexpected rate script reply %v", vals)
	}
	return audit.StatusOf(int64(count), limit), nil
}

// RateStates lists the windows of scope in creation order.
func (s *Store) RateStates(ctx context.Context, scope string) ([]audit.RateLimitState, error) {
	if err := store.CheckID("scope", scope); err != nil {
		return nil, fmt.Errorf("redisstore: rate limit states: %w", err)
	}
	vals, err := statesScript.Run(ctx, s.c, s.rateKeys(scope)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: rate limit states %s: %w", scope, err)
	}
	if len(vals) == 0 {
		return nil, nil
	}
	out := make([]audit.RateLimitState, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		f := strings.Fields(vals[i+1])
		var n [4]float64
		ok := len(f) == 4
		for j := 0; ok && j < 4; j++ {
			var err error
			n[j], err = strconv.ParseFloat(f[j], 64)
			ok = err == nil
		}
		if !ok {
			return nil, fmt.Errorf("redisstore: rate limit states %s: window %q holds %q", scope, vals[i], vals[i+1])
		}
		out = append(out, audit.RateLimitState{
			Action:        vals[i],
			Count:         int64(n[0]),
			PeriodStart:   time.UnixMilli(int64(n[1])),
			PeriodSeconds: n[2],
			Limit:         n[3],
		})
	}
	return out, nil
}

// ResetRates deletes the windows of scope.
func (s *Store) ResetRates(ctx context.Context, scope string) error {
	if err := store.CheckID("scope", scope); err != nil {
		return fmt.Errorf("redisstore: rate limit reset: %w", err)
	}
	if err := s.c.Del(ctx, s.rateKeys(scope)...).Err(); err != nil {
		return fmt.Errorf("redisstore: rate limit reset %s: %w", scope, err)
	}
	return nil
}
