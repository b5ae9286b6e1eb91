package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
)

func ExampleOpen() {
	ctx := context.Background()
	redisURL := redisstore.URLForExamples() // e.g. "redis://127.0.0.1:6379/0"
	s, err := redisstore.Open(ctx, redisURL,
		redisstore.WithKeyPrefix(fmt.Sprintf("example-%d:", time.Now().UnixNano())),
		redisstore.WithJobTTL(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.CreateJob(ctx, store.Job{ID: "job-1", Kind: store.KindVerify, Total: 2}); err != nil {
		log.Fatal(err)
	}
	chunk := []store.Result{
		{Index: 0, Ref: "a", Valid: true},
		{Index: 1, Ref: "b", Error: "malformed document"},
	}
	p, err := s.RecordResults(ctx, "job-1", chunk)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Job.Status, p.Job.Done, p.Job.Valid, p.Job.Failed, p.Completed)

	// A redelivered chunk changes nothing.
	p, err = s.RecordResults(ctx, "job-1", chunk)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Job.Status, p.Job.Done, p.Job.Valid, p.Job.Failed, p.Completed)
	// Output:
	// completed 2 1 1 true
	// completed 2 1 1 false
}
