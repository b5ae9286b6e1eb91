package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// The outbox of store.Announcements is a sorted set, stele:{announce}:deferred,
// of job IDs scored by a sequence number (stele:{announce}:seq) taken when
// each was first added. Neither has a TTL: a jobs.Announcer drops each ID
// once it is announced or its job is gone.
func (s *Store) announceKeys() []string {
	p := s.opts.prefix + "{announce}:"
	return []string{p + "deferred", p + "seq"}
}

// deferScript adds a job ID with the next sequence number unless it is
// there. KEYS: deferred, seq. ARGV: job ID.
var deferScript = redis.NewScript(`
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
return 1
`)

// DeferAnnouncement adds jobID to the outbox; see store.Announcements.
func (s *Store) DeferAnnouncement(ctx context.Context, jobID string) error {
	if err := store.CheckID("job", jobID); err != nil {
		return fmt.Errorf("redisstore: defer announcement: %w", err)
	}
	if err := deferScript.Run(ctx, s.c, s.announceKeys(), jobID).Err(); err != nil {
		return fmt.Errorf("redisstore: defer the announcement of job %s: %w", jobID, err)
	}
	return nil
}

// DeferredAnnouncements lists the outbox, oldest first; see
// store.Announcements.
func (s *Store) DeferredAnnouncements(ctx context.Context, max int) ([]string, error) {
	if err := store.CheckDeferredMax(max); err != nil {
		return nil, fmt.Errorf("redisstore: deferred announcements: %w", err)
	}
	ids, err := s.c.ZRange(ctx, s.announceKeys()[0], 0, int64(max-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: deferred announcements: %w", err)
	}
	return ids, nil
}

// DropAnnouncement removes jobID from the outbox; see store.Announcements.
func (s *Store) DropAnnouncement(ctx context.Context, jobID string) error {
	if err := store.CheckID("job", jobID); err != nil {
		return fmt.Errorf("redisstore: drop announcement: %w", err)
	}
	if err := s.c.ZRem(ctx, s.announceKeys()[0], jobID).Err(); err != nil {
		return fmt.Errorf("redisstore: drop the announcement of job %s: %w", jobID, err)
	}
	return nil
}
