package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/worker"
)

// runDead lists and replays the dead letters of a cluster's STELE_DEAD
// stream: the chunks no worker could finish.
func runDead(ctx context.Context, e *env, args []string) int {
	const cmd = "dead"
	flags := newFlagSet(e, cmd, "list|replay [--nats URL] [--nats-creds FILE] [--limit N] [--json] [SEQ...]")
	url := flags.String("nats", envOr("STELE_NATS_URL", nats.DefaultURL), "NATS server URL(s), comma-separated (STELE_NATS_URL)")
	creds := flags.String("nats-creds", os.Getenv("STELE_NATS_CREDS"), "NATS credentials file (STELE_NATS_CREDS)")
	limit := flags.Int("limit", 100, "list: dead letters to show at most (1 to 10000)")
	asJSON := flags.Bool("json", false, "list: one JSON object per dead letter")
	// The action may come first (stele dead list --nats URL) or after the
	// flags (stele dead --nats URL list).
	action := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	rest := flags.Args()
	if action == "" && len(rest) > 0 {
		action, rest = rest[0], rest[1:]
	}
	if action != "list" && action != "replay" {
		flags.Usage()
		return exitUsage
	}
	var seqs []uint64
	if action == "replay" {
		if len(rest) == 0 {
			return fail(e, cmd, exitUsage, "the sequences are those `stele dead list` shows", "replay: no sequence given")
		}
		for _, a := range rest {
			n, err := strconv.ParseUint(a, 10, 64)
			if err != nil || n == 0 {
				hint := "the sequences are those `stele dead list` shows"
				if strings.HasPrefix(a, "-") {
					hint = "flags go before the sequences: stele dead replay [--nats URL] SEQ..."
				}
				return fail(e, cmd, exitUsage, hint, "replay: %q is not a sequence number", a)
			}
			seqs = append(seqs, n)
		}
	} else if len(rest) > 0 {
		return fail(e, cmd, exitUsage, "flags go before any other argument", "list: unexpected argument %q", rest[0])
	} else if *limit < 1 || *limit > jobs.MaxDeadLetterList {
		// Checked before connecting: a bad flag is not a connection problem.
		return fail(e, cmd, exitUsage, "", "list: --limit %d: want 1 to %d", *limit, jobs.MaxDeadLetterList)
	}
	// A request the server's permissions refuse gets no reply: it would
	// wait out the minute below and say only "context deadline exceeded".
	// The server's notice of the violation ends the wait with its reason.
	ctx, refused := context.WithCancelCause(ctx)
	defer refused(nil)
	opts := []nats.Option{nats.Name("stele dead"), nats.Timeout(5 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				refused(err)
			}
		})}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		return fail(e, cmd, exitUsage, "is NATS running there? set --nats or STELE_NATS_URL", "connect to %s: %v", worker.RedactURL(*url), worker.URLError(err))
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(e, cmd, exitUsage, "", "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	if seqs != nil {
		for _, seq := range seqs {
			if err := jobs.ReplayDeadLetter(ctx, js, seq); err != nil {
				hint, err := explainDeadError(ctx, err, *url)
				return fail(e, cmd, exitInvalid, hint, "%v", err)
			}
			fmt.Fprintf(e.stdout, "replayed %d\n", seq)
		}
		return exitOK
	}
	list, err := jobs.ListDeadLetters(ctx, js, *limit)
	if err != nil {
		hint, err := explainDeadError(ctx, err, *url)
		return fail(e, cmd, exitUsage, hint, "%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, d := range list {
			if err := enc.Encode(d); err != nil {
				return fail(e, cmd, exitUsage, "", "%v", err)
			}
		}
		return exitOK
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no dead letters")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tKEPT\tSUBJECT\tJOB\tCHUNK\tITEMS\tDELIVERIES\tREASON")
	for _, d := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", d.Sequence, d.Time.UTC().Format(time.RFC3339),
			d.Subject, d.JobID, d.Chunk, d.Items, d.Deliveries, d.Reason)
	}
	if err := tw.Flush(); err != nil {
		return fail(e, cmd, exitUsage, "", "%v", err)
	}
	return exitOK
}

// explainDeadError returns a hint and the error to report for err, a failed
// request of stele dead on ctx: a permissions violation that ended ctx
// replaces the bare context error, and a missing stream is explained.
func explainDeadError(ctx context.Context, err error, url string) (hint string, _ error) {
	if cause := context.Cause(ctx); errors.Is(cause, nats.ErrPermissionViolation) {
		return "the NATS user needs $JS.API.> (and stele.jobs.> to replay): with deployments/nats/auth.conf, connect as the gateway user",
			fmt.Errorf("%w (%v)", cause, err)
	}
	return noStreamHint(err, url), err
}

// noStreamHint explains a missing STELE_DEAD stream: the server is not the
// cluster's, or no Stele process has started against it yet.
func noStreamHint(err error, url string) string {
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return ""
	}
	return fmt.Sprintf("%s has no %s stream: is it the cluster's NATS server? (a gateway, verifier or signer creates the streams when it starts)",
		worker.RedactURL(url), jobs.StreamDead)
}

// envOr returns the environment variable name, or def when it is unset or
// empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
