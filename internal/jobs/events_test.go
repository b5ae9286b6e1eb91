package jobs_test

import (
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// TestRedeliveryEventsFollowTheStore: a chunk redelivered after its results
// were recorded (its worker died before publishing and acknowledging) is
// verified again, here against a clock past the covenant's expiry, and
// reaches another verdict. The store keeps the first results; the
// invalid-document events must tell those, not the new verdicts: no event
// for the item stored valid, an event for the one stored invalid.
func TestRedeliveryEventsFollowTheStore(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{})
			ctx := testContext(t)
			k := testKey(t, "alice", false)
			t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			build := func(expires time.Time) []byte {
				doc, err := covenant.Build(covenant.BuildOptions{
					Issuer:      covenant.Party{ID: "alice", PublicKey: k.Public, Role: covenant.RoleIssuer},
					Beneficiary: covenant.Party{ID: "bob", PublicKey: benKey, Role: covenant.RoleBeneficiary},
					Constraints: "permit read on '/data/**'",
					ExpiresAt:   expires.Format("2006-01-02T15:04:05.000Z"),
					Now:         func() time.Time { return t0.Add(-time.Hour) },
				}, k.PrivateKey())
				if err != nil {
					t.Fatal(err)
				}
				return doc.AppendJSON(nil)
			}
			// Item 0 expires between the deliveries; item 1 was recorded
			// invalid (by a first delivery with a clock past its expiry)
			// and is valid at the redelivery's clock.
			items := []jobs.Item{{Index: 0, Document: build(t0.Add(10 * time.Second))}, {Index: 1, Document: build(t0.Add(time.Hour))}}
			job := jobs.Job{ID: "redelivered", Kind: store.KindVerify}
			if err := p.st.CreateJob(ctx, store.Job{ID: job.ID, Kind: job.Kind, Total: 2}); err != nil {
				t.Fatal(err)
			}
			verifyAt := func(at time.Time, it jobs.Item) store.Result {
				h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: p.st, Now: func() time.Time { return at }})
				if err != nil {
					t.Fatal(err)
				}
				res, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: job.ID, Kind: job.Kind, Items: []jobs.Item{it}})
				if err != nil {
					t.Fatal(err)
				}
				return res[0]
			}
			first := []store.Result{verifyAt(t0, items[0]), verifyAt(t0.Add(2*time.Hour), items[1])}
			if !first[0].Valid || first[1].Valid || first[1].Error != "" {
				t.Fatalf("first delivery: %+v", first)
			}
			if _, err := p.st.RecordResults(ctx, job.ID, first); err != nil {
				t.Fatal(err)
			}
			// The redelivery, 30 s later.
			if _, err := p.pub.Publish(ctx, job, items); err != nil {
				t.Fatal(err)
			}
			h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: p.st, Now: func() time.Time { return t0.Add(30 * time.Second) }})
			if err != nil {
				t.Fatal(err)
			}
			p.startRunner(t, nil, h, jobs.RunnerConfig{})
			// The completion comes last (after the invalid-document events).
			var completed, invalid []jobs.Event
			waitFor(t, func() bool {
				completed, invalid = streamEvents(t, p.js, job.ID)
				return len(completed) > 0
			})
			waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
			if len(completed) != 1 {
				t.Errorf("%d completion events, want 1", len(completed))
			}
			got := map[int]bool{}
			for _, ev := range invalid {
				got[ev.Result.Index] = true
			}
			if got[0] || !got[1] || len(invalid) != 1 {
				t.Errorf("invalid events for items %v, want item 1 only (stored: 0 valid, 1 invalid)", got)
			}
		})
	}
}
