package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
)

// Example runs the whole pipeline in one process: a JetStream server, the
// SQLite store, a runner, and a job of two items published in chunks.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stele-jobs-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	srv.Start()
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// Every process does this at start-up; it is idempotent.
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		log.Fatal(err)
	}
	cons, err := jobs.EnsureConsumer(ctx, js, store.KindVerify, jobs.ConsumerConfig{})
	if err != nil {
		log.Fatal(err)
	}

	// The worker.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st, SigCache: st, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	r, err := jobs.NewRunner(cons, js, st, h, jobs.RunnerConfig{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer r.Shutdown(ctx)

	// The gateway's side: wait for the completion event, create the job,
	// publish its items.
	done := make(chan *nats.Msg, 1)
	sub, err := nc.ChanSubscribe(jobs.JobEventSubject("example"), done)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe()
	doc, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "reference-corpus", "0.json"))
	if err != nil {
		log.Fatal(err)
	}
	items := []jobs.Item{
		{Ref: "good", Document: doc},
		{Ref: "bad", Document: json.RawMessage(`{"id":"x"}`)},
	}
	if err := st.CreateJob(ctx, store.Job{ID: "example", Kind: store.KindVerify, Total: len(items)}); err != nil {
		log.Fatal(err)
	}
	pub, err := jobs.NewPublisher(js, jobs.WithStaging(st))
	if err != nil {
		log.Fatal(err)
	}
	job := jobs.Job{ID: "example", Kind: store.KindVerify, At: "2026-11-26T21:02:18Z"}
	if _, err := pub.Publish(ctx, job, items); err != nil {
		log.Fatal(err)
	}

	select {
	case m := <-done:
		var ev jobs.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d valid, %d invalid, %d failed\n", ev.Type, ev.Job.Valid, ev.Job.Invalid, ev.Job.Failed)
	case <-time.After(30 * time.Second):
		log.Fatal("job did not complete")
	}
	results, _, err := st.Results(ctx, "example", 0, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, res := range results {
		fmt.Printf("%d %s: valid=%v checks=%d error=%q\n", res.Index, res.Ref, res.Valid, len(res.Checks), res.Error)
	}
	// Output:
	// job.completed: 1 valid, 0 invalid, 1 failed
	// 0 good: valid=true checks=11 error=""
	// 1 bad: valid=false checks=0 error="malformed document: Missing or invalid required field: version"
}

func ExampleMsgID() {
	// A chunk's Nats-Msg-Id: publishing chunk 3 of a job twice within the
	// stream's duplicate window stores it once.
	fmt.Println(jobs.MsgID("01HZX3J8Q4", 3))
	fmt.Println(jobs.JobEventSubject("01HZX3J8Q4"))
	fmt.Println(jobs.InvalidEventSubject("01HZX3J8Q4"))
	// Output:
	// 01HZX3J8Q4.3
	// stele.events.job.01HZX3J8Q4
	// stele.events.job.01HZX3J8Q4.invalid
}
