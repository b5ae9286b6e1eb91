// Command nats shows how an integration uses Stele over NATS alone, with no
// HTTP and no access to the store:
//
//  1. it builds a covenant locally and submits a verification job by
//     publishing a jobs.Chunk on stele.jobs.verify (JetStream), then waits
//     for the job's completion event on stele.events.job.<jobID>;
//  2. it submits a sign job the same way on stele.jobs.sign (a signer that
//     holds --key-id builds and signs the covenant; without one the item
//     fails with unknown_key, and with no signer running at all the example
//     says so after --sign-wait);
//  3. it asks the stele.evaluate request-reply service (nats.go micro) to
//     decide actions under the covenant that step 1 stored, and prints each
//     decision with the audit entry that records it.
//
// A producer that talks only to NATS cannot create the job record in the
// store as the gateway does, so every chunk carries the job's item count in
// "total": the first worker that finds no record creates it from the chunk
// (kind and total), then records the results. The Nats-Msg-Id
// <jobID>.<chunk> makes a re-published chunk a duplicate. The completion
// event carries the results only for a small job sent in one chunk, as here;
// for a larger one they are read over HTTP (GET /v1/jobs/{id}/results).
//
// It uses this module's internal packages for the message types, so it
// builds only inside this repository; another program writes the same JSON
// (README.md, "Over NATS").
//
// Run it against the all-in-one, letting NATS clients in on a free port:
//
//	make run NATS_LISTEN=127.0.0.1:4223                 # in one terminal
//	go run ./examples/nats --nats nats://127.0.0.1:4223 # in another
//	go run ./examples/nats --nats nats://nats:4222 --key-id issuer-1   # a cluster with a signer
//
// With the users of deployments/nats/auth.conf, connect as the integration
// user: --nats nats://integration:PASSWORD@nats:4222 (or STELE_NATS_URL).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// config is the command line.
type config struct {
	natsURL  string
	keyID    string
	wait     time.Duration
	signWait time.Duration
}

// outcome is what a run observed (for the test).
type outcome struct {
	CovenantID string
	Verify     *jobs.Event
	Sign       *jobs.Event // nil when no signer answered within signWait
	Decisions  []evaluate.Decision
}

func main() {
	var cfg config
	flag.StringVar(&cfg.natsURL, "nats", envOr("STELE_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL")
	flag.StringVar(&cfg.keyID, "key-id", "demo", "key ID of the sign job (a signer must hold it)")
	flag.DurationVar(&cfg.wait, "wait", 30*time.Second, "how long to wait for the verification job")
	flag.DurationVar(&cfg.signWait, "sign-wait", 15*time.Second, "how long to wait for the sign job")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "nats example: %v\nis a Stele gateway reachable over NATS at %s (make run)?\n", err, cfg.natsURL)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run performs the three steps, printing what happens to out.
func run(ctx context.Context, cfg config, out io.Writer) (outcome, error) {
	var res outcome
	nc, err := nats.Connect(cfg.natsURL, nats.Name("stele-example"))
	if err != nil {
		return res, fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}

	// 1. A verification job with one covenant, built here.
	issuer, err := keys.Generate()
	if err != nil {
		return res, err
	}
	agent, err := keys.Generate()
	if err != nil {
		return res, err
	}
	doc, err := covenant.Build(covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "example-operator", PublicKey: issuer.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "example-agent", PublicKey: agent.PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: "permit read on '/data/**'\ndeny write on '/data/**' severity high\nlimit read 5 per 1 minutes",
	}, issuer)
	if err != nil {
		return res, err
	}
	res.CovenantID = doc.ID()
	verify := jobs.Chunk{
		V: jobs.SchemaVersion, JobID: newJobID("verify"), Kind: store.KindVerify, Chunk: 0,
		Total: 1, // no job record exists: the worker creates it from this
		Items: []jobs.Item{{Index: 0, Ref: "example", Document: doc.AppendJSON(nil)}},
	}
	fmt.Fprintf(out, "verify job %s: covenant %s\n", verify.JobID, doc.ID())
	if res.Verify, err = submit(ctx, nc, js, verify, cfg.wait); err != nil {
		return res, fmt.Errorf("verify job: %w", err)
	}
	printEvent(out, res.Verify)

	// 2. A sign job: the signer holding cfg.keyID builds and signs it.
	req, err := json.Marshal(jobs.SignRequest{
		KeyID:       cfg.keyID,
		Beneficiary: &jobs.SignParty{ID: "example-agent", PublicKey: agent.PublicHex()},
		Constraints: "permit read on '/reports/**'",
	})
	if err != nil {
		return res, err
	}
	sign := jobs.Chunk{
		V: jobs.SchemaVersion, JobID: newJobID("sign"), Kind: store.KindSign, Chunk: 0, Total: 1,
		Items: []jobs.Item{{Index: 0, Ref: "example-sign", Sign: req}},
	}
	fmt.Fprintf(out, "sign job %s: key %s\n", sign.JobID, cfg.keyID)
	res.Sign, err = submit(ctx, nc, js, sign, cfg.signWait)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(out, "  no signer finished the job within %v (is a signer running? it stays queued)\n", cfg.signWait)
	case err != nil:
		return res, fmt.Errorf("sign job: %w", err)
	default:
		printEvent(out, res.Sign)
	}

	// 3. Evaluations through the stele.evaluate service.
	for _, a := range []struct{ action, resource string }{
		{"read", "/data/report.csv"},
		{"write", "/data/report.csv"},
		{"delete", "/data/report.csv"},
	} {
		body, _ := json.Marshal(evaluate.Request{CovenantID: doc.ID(), Action: a.action, Resource: a.resource,
			Context: json.RawMessage(`{"agent":"example-agent"}`)})
		msg, err := nc.RequestWithContext(ctx, evaluate.SubjectEvaluate, body)
		if err != nil {
			return res, fmt.Errorf("stele.evaluate: %w", err)
		}
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
			return res, fmt.Errorf("stele.evaluate: error %s: %s", code, msg.Data)
		}
		var d evaluate.Decision
		if err := json.Unmarshal(msg.Data, &d); err != nil {
			return res, fmt.Errorf("stele.evaluate reply: %w", err)
		}
		res.Decisions = append(res.Decisions, d)
		fmt.Fprintf(out, "evaluate %s %s: permitted=%v reason=%q audit entry %d (%.16s…)\n",
			a.action, a.resource, d.Permitted, d.Reason, d.AuditEntry.Index, d.AuditEntry.Hash)
	}
	return res, nil
}

// submit publishes a one-chunk job and returns its completion event. The
// subscription is made before publishing, so the event cannot be missed.
func submit(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, c jobs.Chunk, wait time.Duration) (*jobs.Event, error) {
	sub, err := nc.SubscribeSync(jobs.JobEventSubject(c.JobID))
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.FlushWithContext(ctx); err != nil {
		return nil, err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	subject, err := jobs.SubjectFor(c.Kind)
	if err != nil {
		return nil, err
	}
	if _, err := js.Publish(ctx, subject, data, jetstream.WithMsgID(jobs.MsgID(c.JobID, c.Chunk))); err != nil {
		return nil, fmt.Errorf("publish on %s: %w", subject, err)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msg, err := sub.NextMsgWithContext(wctx)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", jobs.JobEventSubject(c.JobID), err)
	}
	var ev jobs.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		return nil, fmt.Errorf("completion event: %w", err)
	}
	return &ev, nil
}

func printEvent(out io.Writer, ev *jobs.Event) {
	if ev.Job != nil {
		fmt.Fprintf(out, "  %s: %d valid, %d invalid, %d failed\n", ev.Type, ev.Job.Valid, ev.Job.Invalid, ev.Job.Failed)
	}
	for _, r := range ev.Results {
		switch {
		case r.Error != "":
			fmt.Fprintf(out, "  item %d failed: %s\n", r.Index, r.Error)
		default:
			fmt.Fprintf(out, "  item %d: valid=%v document %s\n", r.Index, r.Valid, r.DocumentID)
		}
	}
}

// newJobID returns a fresh job ID (letters, digits, '-' and '_' only).
func newJobID(kind string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "example-" + kind + "-" + hex.EncodeToString(b[:])
}
