package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// lastDeadLetter returns the last dead letter of verify chunks, waiting for
// one to arrive.
func lastDeadLetter(t *testing.T, js jetstream.JetStream) *jetstream.RawStreamMsg {
	t.Helper()
	ctx := testContext(t)
	s, err := js.Stream(ctx, jobs.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	var raw *jetstream.RawStreamMsg
	waitFor(t, func() bool {
		raw, err = s.GetLastMsgForSubject(ctx, jobs.DeadSubject(jobs.SubjectVerify))
		return err == nil
	})
	return raw
}

func jobsQueueEmpty(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	s, err := js.Stream(testContext(t), jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		info, err := s.Info(testContext(t))
		return err == nil && info.State.Msgs == 0
	})
}

// A message the runner terminates is kept in STELE_DEAD, unchanged, with
// the reason.
func TestPoisonedChunkIsKept(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
	ctx := testContext(t)
	const garbage = `{"v":1,"jobId":"x","kind":"verify","chunk":0,"items":[{"index":`
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(garbage)); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{})
	raw := lastDeadLetter(t, p.js)
	if string(raw.Data) != garbage || raw.Header.Get(jobs.HeaderDeadSubject) != jobs.SubjectVerify ||
		!strings.Contains(raw.Header.Get(jobs.HeaderDeadReason), "bad message") || raw.Header.Get(jobs.HeaderDeadDeliveries) != "1" {
		t.Errorf("dead letter %q, headers %v", raw.Data, raw.Header)
	}
	jobsQueueEmpty(t, p.js)

	// The job the chunk names hears of it on its events.
	ev := deadEvent(t, p.js, "x")
	if ev.Type != jobs.EventChunkDead || ev.JobID != "x" || ev.Dead == nil || ev.Dead.DeadSequence != raw.Sequence ||
		ev.Dead.Subject != jobs.SubjectVerify || !strings.Contains(ev.Dead.Reason, "bad message") || ev.Dead.Chunk != nil {
		t.Errorf("dead-chunk event %+v (dead %+v), want chunk.dead for job x at dead sequence %d", ev, ev.Dead, raw.Sequence)
	}

	// A decoded chunk that cannot be processed (a total no job can have)
	// names its chunk; one that names no job has no event.
	bad := `{"v":1,"jobId":"y","kind":"verify","chunk":3,"total":0,"items":[{"index":0,"document":{}}]}`
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(`{"v":1,"kind":"verify"`)); err != nil {
		t.Fatal(err)
	}
	if ev := deadEvent(t, p.js, "y"); ev.Dead == nil || ev.Dead.Chunk == nil || *ev.Dead.Chunk != 3 {
		t.Errorf("dead-chunk event of job y: %+v, want chunk 3", ev.Dead)
	}
	jobsQueueEmpty(t, p.js)
	s, err := p.js.Stream(ctx, jobs.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("STELE_EVENTS holds %d events, want the two dead-chunk events", info.State.Msgs)
	}
}

// deadEvent waits for the first dead-chunk event of job jobID.
func deadEvent(t *testing.T, js jetstream.JetStream, jobID string) jobs.Event {
	t.Helper()
	ctx := testContext(t)
	s, err := js.Stream(ctx, jobs.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	var raw *jetstream.RawStreamMsg
	waitFor(t, func() bool {
		raw, err = s.GetLastMsgForSubject(ctx, jobs.DeadEventSubject(jobID))
		return err == nil
	})
	var ev jobs.Event
	if err := json.Unmarshal(raw.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// A chunk whose deliveries all went unanswered (its workers died on it) is
// taken out of the work queue through the server's advisory, once a worker
// runs again: its items are recorded as failed when the store allows, and
// it is kept as a dead letter, which replays into its job.
func TestUnansweredChunkIsGivenUp(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{MaxDeliver: 2, AckWait: time.Second})
			ctx := testContext(t)
			if err := p.st.CreateJob(ctx, store.Job{ID: "known", Kind: store.KindVerify, Total: 1}); err != nil {
				t.Fatal(err)
			}
			// "known" has a record: its item is recorded as failed when
			// the chunk is given up. "late" has none and names no total:
			// nothing can be recorded, the dead letter is all that is left.
			for _, c := range []string{
				`{"v":1,"jobId":"known","kind":"verify","chunk":0,"items":[{"index":0,"error":"x"}]}`,
				`{"v":1,"jobId":"late","kind":"verify","chunk":0,"items":[{"index":0,"error":"y"}]}`,
			} {
				if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			// Two deliveries that a dying worker never answers.
			for range 2 {
				got := 0
				waitFor(t, func() bool {
					batch, err := p.cons.Fetch(2, jetstream.FetchMaxWait(500*time.Millisecond))
					if err != nil {
						t.Fatal(err)
					}
					for range batch.Messages() {
						got++
					}
					return got == 2
				})
			}
			// The server gives up on them when a worker next pulls, and
			// its advisories wait in STELE_DEAD for the dead-letter loop.
			dead, err := p.js.Stream(ctx, jobs.StreamDead)
			if err != nil {
				t.Fatal(err)
			}
			p.startRunner(t, nil, nil, jobs.RunnerConfig{})
			job := p.waitJob(t, "known")
			if res := p.results(t, "known"); job.Failed != 1 || len(res) != 1 || !strings.Contains(res[0].Error, "no worker finished it in 2 deliveries") {
				t.Errorf("known: %+v %+v", job, res)
			}
			jobsQueueEmpty(t, p.js)
			var lateSeq uint64
			waitFor(t, func() bool {
				info, err := dead.Info(ctx)
				if err != nil || info.State.Msgs != 4 { // two advisories, two dead letters
					return false
				}
				raw, err := dead.GetLastMsgForSubject(ctx, jobs.DeadSubject(jobs.SubjectVerify))
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(raw.Data), `"late"`) {
					lateSeq = raw.Sequence
				} else if raw, err = dead.GetMsg(ctx, raw.Sequence-1); err == nil && strings.Contains(string(raw.Data), `"late"`) {
					lateSeq = raw.Sequence
				}
				return lateSeq > 0
			})
			if _, err := p.st.GetJob(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("late: %v, want no record", err)
			}

			// Replayed once its job exists, the chunk completes it.
			if err := p.st.CreateJob(ctx, store.Job{ID: "late", Kind: store.KindVerify, Total: 1}); err != nil {
				t.Fatal(err)
			}
			if err := jobs.ReplayDeadLetter(ctx, p.js, lateSeq); err != nil {
				t.Fatal(err)
			}
			if job := p.waitJob(t, "late"); job.Failed != 1 {
				t.Errorf("late after replay: %+v", job)
			}
			if res := p.results(t, "late"); len(res) != 1 || res[0].Error != "y" {
				t.Errorf("late results %+v", res)
			}
			if _, err := dead.GetMsg(ctx, lateSeq); !errors.Is(err, jetstream.ErrMsgNotFound) {
				t.Errorf("replayed dead letter still kept: %v", err)
			}
			if err := jobs.ReplayDeadLetter(ctx, p.js, 1); !errors.Is(err, jobs.ErrInvalidOption) {
				t.Errorf("replaying an advisory: %v, want ErrInvalidOption", err)
			}
		})
	}
}

func TestDeadSubject(t *testing.T) {
	for in, want := range map[string]string{
		jobs.SubjectVerify: "stele.dead.verify", jobs.SubjectSign: "stele.dead.sign",
		"other": "stele.dead.unknown", "stele.jobs.a.b": "stele.dead.unknown", "stele.jobs.": "stele.dead.unknown",
	} {
		if got := jobs.DeadSubject(in); got != want {
			t.Errorf("DeadSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// hangingHandler never answers the chunks of the jobs named in hang (it
// waits for the runner's shutdown deadline) and verifies the others.
func hangingHandler(p *pipeline, t *testing.T, hang ...string) jobs.Handler {
	h := p.verifyHandler(t, nil)
	return jobs.HandlerFunc(func(ctx context.Context, c *jobs.Chunk) ([]store.Result, error) {
		if slices.Contains(hang, c.JobID) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return h.HandleChunk(ctx, c)
	})
}

// A chunk whose last delivery is cut short by a shutdown deadline is
// neither recorded nor copied (the work context is gone): it must stay in
// the work queue for the advisory, not be terminated and lost.
func TestShutdownOnLastDeliveryKeepsTheChunk(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{MaxDeliver: 1})
			ctx := testContext(t)
			if _, err := p.js.Publish(ctx, jobs.SubjectVerify,
				[]byte(`{"v":1,"jobId":"cut","kind":"verify","chunk":0,"total":1,"items":[{"index":0,"error":"x"}]}`)); err != nil {
				t.Fatal(err)
			}
			stop := p.startRunner(t, nil, hangingHandler(p, t, "cut"), jobs.RunnerConfig{ShutdownTimeout: 300 * time.Millisecond})
			waitFor(t, func() bool { ack, _ := p.consumerState(t); return ack == 1 })
			_ = stop()

			p.startRunner(t, nil, nil, jobs.RunnerConfig{})
			waitFor(t, func() bool { _, err := p.st.GetJob(ctx, "cut"); return err == nil })
			if job := p.waitJob(t, "cut"); job.Failed != 1 {
				t.Errorf("job %+v", job)
			}
			jobsQueueEmpty(t, p.js)
			if raw := lastDeadLetter(t, p.js); !strings.Contains(string(raw.Data), `"cut"`) {
				t.Errorf("dead letter %s", raw.Data)
			}
		})
	}
}

// A chunk close to the server's max payload does not fit with the dead
// letter's headers: its beginning is kept (marked truncated, not
// replayable) and the chunk leaves the work queue.
func TestOversizeDeadLetterIsTruncated(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
	ctx := testContext(t)
	garbage := []byte(`{"v":1,"jobId":"big","kind":"verify","chunk":0,"items":[{"index":0,"ref":"` +
		strings.Repeat("x", int(p.nc.MaxPayload())-200))
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, garbage); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{})
	raw := lastDeadLetter(t, p.js)
	if raw.Header.Get(jobs.HeaderDeadTruncated) != strconv.Itoa(len(garbage)) || !bytes.HasPrefix(garbage, raw.Data) || len(raw.Data) >= len(garbage) {
		t.Errorf("dead letter of %d bytes, headers %v", len(raw.Data), raw.Header)
	}
	jobsQueueEmpty(t, p.js)
	if err := jobs.ReplayDeadLetter(ctx, p.js, raw.Sequence); !errors.Is(err, jobs.ErrInvalidOption) {
		t.Errorf("replaying a truncated dead letter: %v", err)
	}
}

// A chunk whose own Nats-Msg-Id is long (a hostile producer's) is still
// kept as a dead letter when the chunk is close to the server's max
// payload: the ID is cut short with the chunk, the chunk leaves the work
// queue and its job hears of it.
func TestDeadLetterOfLongMsgID(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{MaxDeliver: 2, AckWait: time.Second})
	ctx := testContext(t)
	maxPayload := int(p.nc.MaxPayload())
	for i, tc := range []struct{ idLen, dataLen int }{
		{16 << 10, maxPayload - 16<<10 - 300},
		{60 << 10, maxPayload - 60<<10 - 100}, // headers are at most 64 KiB
	} {
		jobID := "longid" + strconv.Itoa(i)
		garbage := []byte(`{"v":1,"jobId":"` + jobID + `","kind":"verify","chunk":0,"items":[{"index":0,"ref":"`)
		garbage = append(garbage, strings.Repeat("x", tc.dataLen-len(garbage))...)
		msgID := jobID + "." + strings.Repeat("m", tc.idLen)
		if _, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: jobs.SubjectVerify, Data: garbage}, jetstream.WithMsgID(msgID)); err != nil {
			t.Fatal(err)
		}
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{})
	for i := range 2 {
		jobID := "longid" + strconv.Itoa(i)
		ev := deadEvent(t, p.js, jobID)
		if ev.Dead == nil {
			t.Fatalf("dead-chunk event of %s: %+v", jobID, ev)
		}
		raw, err := p.js.Stream(ctx, jobs.StreamDead)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := raw.GetMsg(ctx, ev.Dead.DeadSequence)
		if err != nil {
			t.Fatal(err)
		}
		if id := msg.Header.Get(jobs.HeaderDeadMsgID); !strings.HasPrefix(id, jobID+".mmm") || len(id) > 2048 {
			t.Errorf("%s: dead letter's %s has %d bytes", jobID, jobs.HeaderDeadMsgID, len(id))
		}
		// Kept when the runner terminated it, with the reason it did.
		if r := msg.Header.Get(jobs.HeaderDeadReason); !strings.Contains(r, "invalid JSON") || msg.Header.Get(jobs.HeaderDeadDeliveries) != "1" {
			t.Errorf("%s: dead letter's reason %q after %s deliveries, want the decoding error on the first", jobID, r, msg.Header.Get(jobs.HeaderDeadDeliveries))
		}
	}
	jobsQueueEmpty(t, p.js)
}

// The dead-letter loop survives STELE_DEAD being deleted and created again
// (by another process's EnsureStreams), and a chunk given up through an
// advisory whose total disagrees with its job still settles what the job
// admits.
func TestDeadLettersAfterStreamRecreated(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{MaxDeliver: 1, AckWait: time.Second})
	ctx := testContext(t)
	if err := p.st.CreateJob(ctx, store.Job{ID: "mistotal", Kind: store.KindVerify, Total: 2}); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, hangingHandler(p, t, "mistotal"), jobs.RunnerConfig{ShutdownTimeout: 300 * time.Millisecond})
	time.Sleep(500 * time.Millisecond) // the loop has its consumer
	if err := p.js.DeleteStream(ctx, jobs.StreamDead); err != nil {
		t.Fatal(err)
	}
	if err := jobs.EnsureStreams(ctx, p.js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify,
		[]byte(`{"v":1,"jobId":"mistotal","kind":"verify","chunk":0,"total":3,"items":[{"index":0,"error":"x"},{"index":1,"error":"y"}]}`)); err != nil {
		t.Fatal(err)
	}
	job := p.waitJob(t, "mistotal")
	if res := p.results(t, "mistotal"); job.Failed != 2 || len(res) != 2 || !strings.Contains(res[0].Error, "no worker finished it") {
		t.Errorf("job %+v, results %+v", job, res)
	}
	jobsQueueEmpty(t, p.js)
}

// A chunk that names no total for a job with no record is kept as a dead
// letter once its deliveries run out, with a reason that names the member
// at fault (what a producer on NATS has to go by).
func TestDeadLetterOfChunkWithoutTotal(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{MaxDeliver: 2})
	ctx := testContext(t)
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify,
		[]byte(`{"v":1,"jobId":"nototal","kind":"verify","chunk":0,"items":[{"index":0,"error":"x"}]}`)); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{})
	ev := deadEvent(t, p.js, "nototal")
	if ev.Dead == nil || !strings.Contains(ev.Dead.Reason, "names no total") {
		t.Errorf("dead-chunk event %+v, want a reason naming the missing total", ev.Dead)
	}
	jobsQueueEmpty(t, p.js)
}

// A chunk of a newer schema is handed back for a worker that reads it; once
// its deliveries run out it is kept as a dead letter that names its
// version, not dropped as one no worker finished.
func TestDeadLetterOfNewerSchema(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{MaxDeliver: 2})
	ctx := testContext(t)
	const future = `{"v":99,"jobId":"future","kind":"verify","chunk":0,"items":[]}`
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(future)); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{NakDelay: 10 * time.Millisecond})
	raw := lastDeadLetter(t, p.js)
	if r := raw.Header.Get(jobs.HeaderDeadReason); string(raw.Data) != future || !strings.Contains(r, "schema") ||
		!strings.Contains(r, "99") || raw.Header.Get(jobs.HeaderDeadDeliveries) != "2" {
		t.Errorf("dead letter %q, headers %v; want the chunk kept after 2 deliveries, naming its version", raw.Data, raw.Header)
	}
	jobsQueueEmpty(t, p.js)
}
