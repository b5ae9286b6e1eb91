// Command verifier is a Stele verification worker. It pulls job chunks from
// the STELE_JOBS stream (durable consumer "verifier"), verifies every
// document of a chunk as one batch, writes the results to the shared Redis
// store and acknowledges the chunk only then. Run as many as you like, on as
// many machines: they share the work.
//
// Configuration comes from flags, or from the STELE_* environment variable
// named in each flag's help; a flag given on the command line wins. SIGTERM
// or SIGINT drains the worker: it stops fetching, finishes and acknowledges
// the chunks in hand, and exits. At start-up it keeps retrying NATS and Redis
// until they answer (or -connect-wait passes), so it may start before them.
//
// Usage:
//
//	verifier [flags]
//
// Exit status: 0 after a drain, 1 when the worker fails, 2 on bad
// configuration.
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/worker"
)

func main() {
	worker.Main("verifier", func(ctx context.Context, args, environ []string, stderr io.Writer) error {
		return run(ctx, args, worker.Getenv(environ), stderr)
	})
}

// config is the verifier's configuration: the shared worker flags.
type config struct {
	worker.Config
}

// parseConfig reads flags, then the STELE_* variable of every flag not given
// on the command line.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	fs := worker.NewFlags("verifier", out)
	worker.CommonFlags(fs, &c.Config, "verifier", store.KindVerify, 10)
	if err := fs.Parse(args, getenv); err != nil {
		return c, err
	}
	return c, c.Finish()
}

// run runs the worker until ctx is cancelled, then drains it.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := cfg.Logger(stderr)
	cfg.Runner.Logger = log
	stopDebug, err := worker.StartDebug(&cfg.Config, log)
	if err != nil {
		return err
	}
	defer stopDebug()

	conn, cons, err := worker.Connect(ctx, &cfg.Config, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	st := conn.Store
	h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st, SigCache: st, Revocations: st, Now: conn.Now, Logger: log})
	if err != nil {
		return err
	}
	r, err := jobs.NewRunner(cons, conn.JS, st, h, cfg.Runner)
	if err != nil {
		return err
	}
	stopAnnouncer, err := worker.StartAnnouncer(conn, log)
	if err != nil {
		return err
	}
	defer stopAnnouncer()
	log.Info("verifier started", "nats", conn.NC.ConnectedUrlRedacted(), "concurrency", cfg.Runner.Concurrency,
		"fetch_batch", cfg.Runner.FetchBatch)
	if err := r.Run(ctx); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	log.Info("verifier drained")
	return nil
}
