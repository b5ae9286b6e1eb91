//go:build !linux

package loadtest

import (
	"context"
	"time"
)

// pacer waits with a timer (millisecond precision where the runtime's
// poller has it).
type pacer struct{ t *time.Timer }

func newPacer() pacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return pacer{t: t}
}

// wait returns once due has passed, or ctx's error if it ends first.
func (p pacer) wait(ctx context.Context, due time.Time) error {
	for {
		d := time.Until(due)
		if d <= 0 {
			return nil
		}
		p.t.Reset(min(d, pacerSlice))
		select {
		case <-p.t.C:
		case <-ctx.Done():
			p.t.Stop()
			return ctx.Err()
		}
	}
}

func (p pacer) close() { p.t.Stop() }
