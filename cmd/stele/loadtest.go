package main

import (
	"context"
	"errors"
	"flag"

	"github.com/stele-go/stele/internal/loadtest"
)

// runLoadtest mounts the load tool (internal/loadtest, also built as
// cmd/steleload) as `stele loadtest`.
func runLoadtest(ctx context.Context, e *env, args []string) int {
	err := loadtest.Run(ctx, "stele loadtest", args, e.stdout, e.stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, loadtest.ErrUsage):
		return fail(e, "loadtest", exitUsage, "run 'stele loadtest -h' for the flags", "%v", err)
	default:
		return fail(e, "loadtest", exitInvalid, "", "%v", err)
	}
}
