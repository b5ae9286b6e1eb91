package redisstore

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store/storetest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// TestAuditTamper edits and deletes entries in Redis directly.
func TestAuditTamper(t *testing.T) {
	c := newClient(t)
	s := newTestStore(t, c, storetest.Config{})
	storetest.AuditTamper(t, s, func(ctx context.Context, id string, index int, edit func([]byte) []byte) error {
		key := s.auditKeys(id)[0]
		body, err := c.LIndex(ctx, key, int64(index)).Bytes()
		if err != nil {
			return err
		}
		if nb := edit(body); nb != nil {
			return c.LSet(ctx, key, int64(index), nb).Err()
		}
		if err := c.LSet(ctx, key, int64(index), "\x00deleted").Err(); err != nil {
			return err
		}
		return c.LRem(ctx, key, 1, "\x00deleted").Err()
	})
}

// TestAuditKeyLayout checks the keys of a log and of rate windows: one hash
// tag per log or scope, raw hashes, the checkpoint, the windows' TTL.
func TestAuditKeyLayout(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	s := newTestStore(t, c, storetest.Config{})
	p := s.opts.prefix
	var last audit.Entry
	for range 3 {
		e, err := s.AppendAudit(ctx, "c1", func(prev audit.Head) (audit.Entry, error) {
			return audit.Entry{Index: prev.Len, Action: "a", Outcome: audit.Executed, PreviousHash: prev.Hash}.Seal(), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		last = e
	}
	if _, err := s.TrimAudit(ctx, "c1", 1); err != nil {
		t.Fatal(err)
	}
	if n, err := c.StrLen(ctx, p+"{audit:c1}:hashes").Result(); err != nil || n != 3*32 {
		t.Errorf("STRLEN hashes = %d, %v; want 96", n, err)
	}
	if n, err := c.LLen(ctx, p+"{audit:c1}:entries").Result(); err != nil || n != 2 {
		t.Errorf("LLEN entries = %d, %v; want 2", n, err)
	}
	if v, err := c.Get(ctx, p+"{audit:c1}:ckpt").Result(); err != nil || v != "1" {
		t.Errorf("ckpt = %q, %v; want 1", v, err)
	}
	if h, err := s.AuditHead(ctx, "c1"); err != nil || h != (audit.Head{Len: 3, Hash: last.Hash}) {
		t.Errorf("AuditHead = %+v, %v", h, err)
	}

	now := time.UnixMilli(1_800_000_000_000)
	l := audit.Limit{Action: "x.*", Count: 5, PeriodSeconds: 600}
	if _, err := s.AcquireRate(ctx, "c1", l, []audit.Limit{l}, now); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{p + "{rl:c1}:w", p + "{rl:c1}:order"} {
		ttl, err := c.PTTL(ctx, k).Result()
		want := 2*600*time.Second + time.Minute
		if err != nil || ttl > want || ttl < want-time.Minute {
			t.Errorf("PTTL %s = %v, %v; want about %v", k, ttl, err, want)
		}
	}
	// A shorter limit touched later does not shorten the TTL.
	short := audit.Limit{Action: "y", Count: 5, PeriodSeconds: 1}
	if _, err := s.AcquireRate(ctx, "c1", short, []audit.Limit{short}, now); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, p+"{rl:c1}:w").Result(); err != nil || ttl < 20*time.Minute {
		t.Errorf("PTTL after a short limit = %v, %v", ttl, err)
	}
}

// BenchmarkAppendAudit measures parallel appends to one covenant's log and
// reports the Redis round trips per append.
func BenchmarkAppendAudit(b *testing.B) {
	c, err := NewClient(testRedisURL)
	if err != nil {
		b.Fatal(err)
	}
	var calls atomic.Int64
	c.AddHook(countHook{&calls})
	s, err := New(c, WithKeyPrefix(redistest.KeyPrefix(b)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(); c.Close() })
	b.SetParallelism(8)
	calls.Store(0)
	storetest.BenchAppendAudit(b, s)
	b.ReportMetric(float64(calls.Load()-1)/float64(b.N), "roundtrips/op") // -1: the final AuditHead
}

// countHook counts commands sent (a pipeline counts once).
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestAuditAppendRefusesCorruptList: an entries list edited in Redis to
// hold more or fewer entries than the hashes say is not appended to, since
// the new entry would sit at another position than its index (a read of its
// index would return another entry); the log is left as it was, and appends
// work again once the list is repaired.
func TestAuditAppendRefusesCorruptList(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	s := newTestStore(t, c, storetest.Config{})
	build := func(prev audit.Head) (audit.Entry, error) {
		return audit.Entry{Index: prev.Len, Action: "a", Outcome: audit.Executed, PreviousHash: prev.Hash}.Seal(), nil
	}
	for range 3 {
		if _, err := s.AppendAudit(ctx, "c2", build); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TrimAudit(ctx, "c2", 1); err != nil {
		t.Fatal(err)
	}
	key := s.auditKeys("c2")[0]
	last, err := c.LIndex(ctx, key, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	head, err := s.AuditHead(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		edit, repair func() error
	}{
		{"duplicated last entry", func() error { return c.RPush(ctx, key, last).Err() }, func() error { return c.RPop(ctx, key).Err() }},
		{"lost last entry", func() error { return c.RPop(ctx, key).Err() }, func() error { return c.RPush(ctx, key, last).Err() }},
	} {
		if err := tc.edit(); err != nil {
			t.Fatal(err)
		}
		n, _ := c.LLen(ctx, key).Result()
		if _, err := s.AppendAudit(ctx, "c2", build); err == nil || !strings.Contains(err.Error(), "STELE_CORRUPT") {
			t.Errorf("%s: append = %v, want a STELE_CORRUPT error", tc.name, err)
		}
		if h, err := s.AuditHead(ctx, "c2"); err != nil || h != head {
			t.Errorf("%s: head after the refused append %+v %v, want %+v", tc.name, h, err, head)
		}
		if m, err := c.LLen(ctx, key).Result(); err != nil || m != n {
			t.Errorf("%s: the list grew from %d to %d (%v)", tc.name, n, m, err)
		}
		if err := tc.repair(); err != nil {
			t.Fatal(err)
		}
	}
	e, err := s.AppendAudit(ctx, "c2", build)
	if err != nil || e.Index != 3 {
		t.Fatalf("append after the repair: %+v %v", e, err)
	}
	es, err := s.AuditEntries(ctx, "c2", 3, 4)
	if err != nil || len(es) != 1 || es[0].Hash != e.Hash {
		t.Fatalf("entry 3 reads %+v %v, want the appended one", es, err)
	}
}
