package ccl

import "math"

// RateLimitResult is the outcome of CheckRateLimit. Limit is the limit
// statement that applies, nil when none does (then Remaining is +Inf and
// Exceeded false).
type RateLimitResult struct {
	Exceeded  bool
	Limit     *Statement
	Remaining float64
}

// CheckRateLimit is the reference's checkRateLimit (PROTOCOL.md §4.8): it
// picks the limit statement whose action pattern matches action with the
// highest specificity (the first on ties) and checks currentCount against it
// in a fixed window that started at periodStartMs (Unix milliseconds) and is
// judged at nowMs. A window is over when strictly more than its period has
// elapsed; then the count is taken as reset.
//
// Monitors apply a different rule (PROTOCOL.md §6.3); this is the CCL
// package's own.
func CheckRateLimit(doc *Document, action string, currentCount float64, periodStartMs, nowMs int64) RateLimitResult {
	var limit *Statement
	best := -1
	if doc != nil {
		for _, s := range doc.Limits {
			var ok bool
			var spec int
			if s.fresh() {
				ok, spec = matchSegments(s.pre.act, action, '.'), s.pre.spec
			} else {
				ok, spec = MatchAction(s.Action, action), Specificity(s.Action, "")
			}
			if ok && spec > best {
				limit, best = s, spec
			}
		}
	}
	if limit == nil {
		return RateLimitResult{Remaining: math.Inf(1)}
	}
	periodMs := limit.PeriodSeconds * 1000
	if float64(nowMs)-float64(periodStartMs) > periodMs {
		return RateLimitResult{Limit: limit, Remaining: limit.Count}
	}
	return RateLimitResult{
		Exceeded:  currentCount >= limit.Count,
		Limit:     limit,
		Remaining: math.Max(0, limit.Count-currentCount),
	}
}
