package sqlitestore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stele-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := sqlitestore.Open(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.CreateJob(ctx, store.Job{ID: "job-1", Kind: store.KindVerify, Total: 3}); err != nil {
		log.Fatal(err)
	}
	first := []store.Result{{Index: 0, Valid: true}, {Index: 2, Ref: "x", Valid: false}}
	p, err := s.RecordResults(ctx, "job-1", first)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Job.Status, p.Job.Done, "of", p.Job.Total, p.Completed)

	// Redelivery of the first chunk together with the last result: only
	// index 1 is new.
	p, err = s.RecordResults(ctx, "job-1", append(first, store.Result{Index: 1, Valid: true}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Job.Status, p.Job.Done, "of", p.Job.Total, p.Completed)
	fmt.Println("valid", p.Job.Valid, "invalid", p.Job.Invalid)

	results, next, err := s.Results(ctx, "job-1", 0, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(results), "results, next page at", next)
	// Output:
	// running 2 of 3 false
	// completed 3 of 3 true
	// valid 2 invalid 1
	// 2 results, next page at 2
}
