package redisstore

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// unavailableReply reports whether msg, an error reply, is from a server
// that cannot serve commands for now, whatever they are: it is loading its
// data (LOADING), a replica lost its primary (MASTERDOWN), a cluster lost
// slots (CLUSTERDOWN) or is moving one (TRYAGAIN), a failover made the node
// a replica (READONLY), a script runs past its time limit (BUSY), or too
// few replicas are in reach (NOREPLICAS).
func unavailableReply(msg string) bool {
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS":
		return true
	}
	return false
}

// unavailableError is a reply of a server that cannot serve commands for
// now: it matches both the reply (errors.As with redis.Error) and
// store.ErrUnavailable.
type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{e.err, store.ErrUnavailable} }

// markUnavailable returns err marked as store.ErrUnavailable when it is a
// reply of a server that cannot serve commands for now, else err.
func markUnavailable(err error) error {
	var rerr redis.Error
	if err == nil || errors.Is(err, store.ErrUnavailable) || !errors.As(err, &rerr) {
		return err
	}
	if unavailableReply(rerr.Error()) {
		return unavailableError{err}
	}
	return err
}

// unavailableHook marks, on every command of a client (pipelines and
// scripts included), the error replies of a server that cannot serve
// commands for now as store.ErrUnavailable (see markUnavailable), after
// go-redis's own retries, so that callers tell a restarting server from a
// fault of the request or the data.
type unavailableHook struct{}

func (unavailableHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (unavailableHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if marked := markUnavailable(cmd.Err()); marked != cmd.Err() {
			cmd.SetErr(marked)
		}
		return markUnavailable(err)
	}
}

func (unavailableHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if marked := markUnavailable(cmd.Err()); marked != cmd.Err() {
				cmd.SetErr(marked)
			}
		}
		return markUnavailable(err)
	}
}
