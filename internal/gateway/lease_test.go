package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/store"
)

// leaseThief takes the queue lease of the job being queued away from the
// gateway right after the job's record is created, as a jobs.Reclaimer does
// when the gateway stalls past its lease.
type leaseThief struct {
	store.Store
	mu     sync.Mutex
	owners map[string]string // job ID → the gateway's lease owner
}

func (s *leaseThief) AcquireQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	s.mu.Lock()
	s.owners[jobID] = owner
	s.mu.Unlock()
	return s.Store.AcquireQueueLease(ctx, jobID, owner, ttl)
}

func (s *leaseThief) CreateJob(ctx context.Context, job store.Job) error {
	if err := s.Store.CreateJob(ctx, job); err != nil {
		return err
	}
	s.mu.Lock()
	owner := s.owners[job.ID]
	s.mu.Unlock()
	if err := s.Store.ReleaseQueueLease(ctx, job.ID, owner); err != nil {
		return err
	}
	return s.Store.AcquireQueueLease(ctx, job.ID, "reclaimer-thief", time.Hour)
}

// TestQueueLeaseTakenBeforeQueueingEnds: a gateway whose queue lease was
// taken while it queued (it stalled past it; a reclaimer settles the job)
// must not answer 202 when it finishes publishing before its next renewal
// noticed: the reclaimer records the items it published after the claim
// as not queued. It answers 503 naming the job and its lease, and leaves
// the reclaimer's lease alone.
func TestQueueLeaseTakenBeforeQueueingEnds(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	st := &leaseThief{Store: e.st, owners: make(map[string]string)}
	url := serveOn(t, e, st, gateway.Limits{})
	status, _, body := do(t, http.MethodPost, url+"/v1/verify", ctJSON, verifyBody(padded(50, 100)))
	var ans struct {
		Error struct {
			Code, Message, JobID string
		}
	}
	_ = json.Unmarshal(body, &ans)
	if status != http.StatusServiceUnavailable || ans.Error.JobID == "" || !strings.Contains(ans.Error.Message, "lease") {
		t.Fatalf("answer %d %.300s, want 503 naming the job and its lease", status, body)
	}
	ctx := testContext(t)
	if err := e.st.RenewQueueLease(ctx, ans.Error.JobID, "reclaimer-thief", time.Hour); err != nil {
		t.Errorf("the reclaimer's lease: %v, want it left alone", err)
	}
}
