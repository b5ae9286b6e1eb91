//go:build linux

package loadtest

import (
	"context"
	"syscall"
	"time"
)

// pacer sleeps in the kernel (nanosleep), which wakes within the thread's
// timer slack (50 µs by default) of the due time. A lower slack (prctl
// PR_SET_TIMERSLACK) was tried: it bought little precision and cost the
// machine more interrupt work than the gateway under test.
type pacer struct{}

func newPacer() pacer { return pacer{} }

// wait returns once due has passed, or ctx's error if it ends first.
func (pacer) wait(ctx context.Context, due time.Time) error {
	for {
		d := time.Until(due)
		if d <= 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		ts := syscall.NsecToTimespec(int64(min(d, pacerSlice)))
		_ = syscall.Nanosleep(&ts, nil) // interrupted (EINTR): the loop measures again
	}
}

func (pacer) close() {}
