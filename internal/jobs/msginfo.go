package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stele-go/stele/internal/store"
)

// MsgInfo describes the JetStream message a handler is processing.
type MsgInfo struct {
	// NumDelivered is the delivery count: 1 on the first delivery.
	NumDelivered uint64
	// Timestamp is when the stream stored the message. Redelivery does not
	// change it, so it can stand in for a time the producer left out.
	Timestamp time.Time
	// StreamSeq is the message's sequence in the stream.
	StreamSeq uint64
}

type msgInfoKey struct{}

// WithMessageInfo returns a context carrying info; the Runner calls it for
// every message, and tests calling a Handler directly may too.
func WithMessageInfo(ctx context.Context, info MsgInfo) context.Context {
	return context.WithValue(ctx, msgInfoKey{}, info)
}

// MessageInfo returns the metadata of the message being handled, when the
// handler runs under a Runner (or a context made by WithMessageInfo).
func MessageInfo(ctx context.Context) (MsgInfo, bool) {
	info, ok := ctx.Value(msgInfoKey{}).(MsgInfo)
	return info, ok
}

// ErrRetryChunk, wrapped in a handler's error, asks the runner to record the
// results the handler did return, then hand the message back for redelivery
// (see RetryChunk) instead of acknowledging it. A handler uses it when this
// worker cannot process some items but another worker of the same consumer
// may: a signer without the key an item names.
var ErrRetryChunk = errors.New("jobs: retry chunk")

// RetryError is the error RetryChunk returns; it matches ErrRetryChunk.
type RetryError struct {
	// Delay before redelivery; zero means the runner's NakDelay.
	Delay time.Duration
	// Reason says why (for logs).
	Reason string
}

// RetryChunk returns an error wrapping ErrRetryChunk. A handler returns it
// with the results of the items it finished (any subset of the chunk's items,
// each index at most once, in any order): the runner commits them like a
// finished chunk's results (idempotently, so items recorded now are no-ops
// on the next delivery), publishes the events that are due, and naks the
// message with delay so it is redelivered, possibly to another worker. Other
// messages keep flowing meanwhile. The consumer's MaxDeliver bounds the
// retries: the handler should settle the remaining items (fail them) before
// the delivery count (MessageInfo) reaches it.
func RetryChunk(delay time.Duration, reason string) error {
	return &RetryError{Delay: delay, Reason: reason}
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("jobs: retry chunk in %v: %s", e.Delay, e.Reason)
}

// Is reports whether target is ErrRetryChunk.
func (e *RetryError) Is(target error) bool { return target == ErrRetryChunk }

// checkPartialResults verifies that results answer distinct items of c:
// an index has at most as many results as c has items of that index (a
// chunk may repeat an index; the store keeps its first result).
func checkPartialResults(c *Chunk, results []store.Result) error {
	if len(results) > len(c.Items) {
		return fmt.Errorf("jobs: handler returned %d partial results for %d items", len(results), len(c.Items))
	}
	want := make(map[int]int, len(c.Items)) // unanswered items per index
	for i := range c.Items {
		want[c.Items[i].Index]++
	}
	for i := range results {
		idx := results[i].Index
		if want[idx] == 0 {
			return fmt.Errorf("jobs: handler partial result %d has index %d, not an unanswered item of the chunk", i, idx)
		}
		want[idx]--
	}
	return nil
}
