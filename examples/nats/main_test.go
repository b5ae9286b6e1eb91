package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/embedded"
	"github.com/stele-go/stele/internal/jobs"
)

// TestExample runs the example against the all-in-one listening for NATS
// clients, as `make run` does.
func TestExample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", NATSListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Shutdown(context.Background())
	if in.NATSURL() == "" {
		t.Fatal("the all-in-one does not listen for NATS clients")
	}
	var out bytes.Buffer
	res, err := run(ctx, config{natsURL: in.NATSURL(), keyID: "demo", wait: 30 * time.Second, signWait: 3 * time.Second}, &out)
	t.Logf("example output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	v := res.Verify
	if v.Type != jobs.EventJobCompleted || v.Job == nil || v.Job.Total != 1 || v.Job.Valid != 1 ||
		len(v.Results) != 1 || v.Results[0].DocumentID != res.CovenantID {
		t.Fatalf("verify event %+v", v)
	}
	if s := res.Sign; s != nil && (s.Job == nil || s.Job.Failed != 1 || !strings.HasPrefix(s.Results[0].Error, jobs.SignErrUnknownKey)) {
		t.Fatalf("sign event for a key nobody holds: %+v", s)
	}
	want := []struct {
		permitted bool
		rule      string
	}{{true, "permit"}, {false, "deny"}, {false, ""}}
	if len(res.Decisions) != len(want) {
		t.Fatalf("%d decisions", len(res.Decisions))
	}
	for i, d := range res.Decisions {
		rule := ""
		if d.MatchedRule != nil {
			rule = d.MatchedRule.Type
		}
		if d.Permitted != want[i].permitted || rule != want[i].rule || d.AuditEntry.Index != i {
			t.Errorf("decision %d: %+v", i, d)
		}
	}
	es, err := in.Store().AuditEntries(ctx, res.CovenantID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || audit.VerifyIntegrity(es) != nil || es[2].Hash != res.Decisions[2].AuditEntry.Hash {
		t.Fatalf("audit trail of %d entries: %v", len(es), audit.VerifyIntegrity(es))
	}
}
