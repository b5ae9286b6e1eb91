// Command steleload measures a running Stele gateway: in-process batch
// verification throughput, end-to-end throughput of an NDJSON batch, the
// same batch again (signature-cache hits), single-document ?wait latency at a
// fixed rate, and the memory of given processes. See internal/loadtest.
//
//	steleload -gateway http://127.0.0.1:8080 -n 100000 -pids 1234,1235,1236
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stele-go/stele/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := loadtest.Run(ctx, "steleload", os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, loadtest.ErrUsage):
		fmt.Fprintf(os.Stderr, "steleload: %v\nrun steleload -h for the flags\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "steleload: %v\n", err)
		os.Exit(1)
	}
}
