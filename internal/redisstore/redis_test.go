package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/storetest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

func TestKeyLayoutAndTTLs(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	s := newTestStore(t, c, storetest.Config{}, WithJobTTL(time.Hour), WithSigTTL(2*time.Hour))
	p := s.opts.prefix
	if err := s.CreateJob(ctx, store.Job{ID: "j1", Kind: store.KindVerify, Total: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordResults(ctx, "j1", []store.Result{{Index: 1, Valid: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDocuments(ctx, []store.Document{{ID: "d1", JSON: []byte(`{}`), IssuerID: "iss", BeneficiaryID: "ben",
		CreatedAt: "2026-02-19T01:38:56.342Z", HasChain: true, Tags: []string{"t"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigs(ctx, [][32]byte{{0xab}}, []bool{true}); err != nil {
		t.Fatal(err)
	}
	sigKey := p + "sig:ab00000000000000000000000000000000000000000000000000000000000000"
	for key, want := range map[string]time.Duration{
		p + "{j1}:job":     time.Hour,
		p + "{j1}:results": time.Hour,
		sigKey:             2 * time.Hour,
		p + "doc:d1":       -1, // no expiry
	} {
		got, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want < 0 && got != -1 {
			t.Errorf("PTTL %s = %v, want no expiry", key, got)
		}
		if want > 0 && (got > want || got < want-time.Minute) {
			t.Errorf("PTTL %s = %v, want about %v", key, got, want)
		}
	}
	if v, err := c.HGet(ctx, p+"{j1}:results", "1").Result(); err != nil || v != "\x01\x01\x01" { // store.AppendStoredResult
		t.Errorf("result field = %q, %v", v, err)
	}
	// Results written as JSON (before the compact form) still read.
	if err := c.HSet(ctx, p+"{j1}:results", "0", `{"index":0,"ref":"r","valid":false,"checks":[{"name":"n","passed":false,"message":"m"}]}`).Err(); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Results(ctx, "j1", 0, 2)
	want := []store.Result{{Index: 0, Ref: "r", Checks: []store.Check{{Name: "n", Message: "m"}}}, {Index: 1, Valid: true}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Results = %+v, %v; want %+v", got, err, want)
	}
	if v, err := c.Get(ctx, sigKey).Result(); err != nil || v != "1" {
		t.Errorf("sig value = %q, %v", v, err)
	}
	wantScore := float64(time.Date(2026, 2, 19, 1, 38, 56, 342e6, time.UTC).UnixMilli())
	for _, idx := range []string{"idx:created", "idx:issuer:iss", "idx:beneficiary:ben", "idx:chain:1", "idx:tag:t"} {
		score, err := c.ZScore(ctx, p+idx, "d1").Result()
		if err != nil || score != wantScore {
			t.Errorf("ZSCORE %s d1 = %v, %v; want %v", idx, score, err, wantScore)
		}
	}
	if n, err := c.Exists(ctx, p+"idx:chain:0").Result(); err != nil || n != 0 {
		t.Errorf("idx:chain:0 exists = %d, %v; want 0", n, err)
	}
}

// TestScriptReload checks that a Redis that lost its script cache (restart,
// failover, SCRIPT FLUSH) is handled by loading the scripts again.
func TestScriptReload(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{}) // SCRIPT FLUSH must not disturb others
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	s := newTestStore(t, c, storetest.Config{})
	if err := s.CreateJob(ctx, store.Job{ID: "j", Kind: store.KindVerify, Total: 3000}); err != nil {
		t.Fatal(err)
	}
	for i, batch := range [][]store.Result{results(0, 10), results(10, 3000)} {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		p, err := s.RecordResults(ctx, "j", batch)
		if err != nil {
			t.Fatalf("RecordResults %d after SCRIPT FLUSH: %v", i, err)
		}
		if p.Job.Done != 10+2990*i {
			t.Errorf("Done = %d after batch %d", p.Job.Done, i)
		}
		if i == 1 && !p.Completed {
			t.Error("completing batch after SCRIPT FLUSH did not report Completed")
		}
	}
}

func results(lo, hi int) []store.Result {
	var rs []store.Result
	for i := lo; i < hi; i++ {
		rs = append(rs, store.Result{Index: i, Valid: true})
	}
	return rs
}

// TestServerDown checks that an unreachable Redis is an error, not a hang.
func TestServerDown(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	s := newTestStore(t, c, storetest.Config{})
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping of a stopped server succeeded")
	}
	if _, err := s.RecordResults(ctx, "j", results(0, 1)); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordResults on a stopped server: err = %v, want a connection error", err)
	}
	if ctx.Err() != nil {
		t.Error("calls on a stopped server ran into the deadline")
	}
}

func TestOptions(t *testing.T) {
	c := newClient(t)
	defer c.Close()
	for name, opt := range map[string]Option{
		"prefix with {": WithKeyPrefix("a{b"),
		"prefix with }": WithKeyPrefix("a}b"),
		"job TTL":       WithJobTTL(time.Microsecond),
		"sig TTL":       WithSigTTL(0),
		"clock":         WithClock(nil),
	} {
		if _, err := New(c, opt); !errors.Is(err, store.ErrInvalidOption) {
			t.Errorf("New with a bad %s option: err = %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := New(nil); !errors.Is(err, store.ErrInvalidOption) {
		t.Errorf("New(nil): err = %v, want ErrInvalidOption", err)
	}
}

func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		url     string
		cluster bool
		err     bool
	}{
		{url: "redis://127.0.0.1:6379/2"},
		{url: "rediss://user:pw@example.com:6380"},
		{url: "redis://127.0.0.1:26379?master_name=mymaster&addr=127.0.0.1:26380"},
		{url: "redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001", cluster: true},
		{url: "rediss+cluster://127.0.0.1:7000", cluster: true},
		{url: "http://127.0.0.1:6379", err: true},
		{url: "redis://127.0.0.1:6379?no_such_option=1", err: true},
	} {
		c, err := NewClient(tc.url)
		if tc.err {
			if err == nil {
				c.Close()
				t.Errorf("NewClient(%q) succeeded, want an error", tc.url)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewClient(%q): %v", tc.url, err)
			continue
		}
		if _, isCluster := c.(*redis.ClusterClient); isCluster != tc.cluster {
			t.Errorf("NewClient(%q) = %T, cluster = %v", tc.url, c, tc.cluster)
		}
		// Every client honours its contexts' deadlines (see
		// TestHungServerHonoursDeadline).
		switch c := c.(type) {
		case *redis.Client:
			if !c.Options().ContextTimeoutEnabled {
				t.Errorf("NewClient(%q): context deadlines not honoured", tc.url)
			}
		case *redis.ClusterClient:
			if !c.Options().ContextTimeoutEnabled {
				t.Errorf("NewClient(%q): context deadlines not honoured", tc.url)
			}
		default:
			t.Errorf("NewClient(%q) = %T", tc.url, c)
		}
		c.Close()
	}
}

// TestNewClientHidesCredentials: a URL that does not parse is refused with
// an error that names neither the URL's password nor its user (url.Parse's
// own error quotes the whole URL, and the workers log it at every attempt),
// and that wraps store.ErrInvalidOption, so that start-up gives up at once
// instead of retrying what no retry mends.
func TestNewClientHidesCredentials(t *testing.T) {
	for _, raw := range []string{
		"redis://user:s3cretpw@host:bad/0",
		"rediss://:s3c%zzretpw@host:6380/0",
		"redis+cluster://user:s3cretpw@host:bad",
		"redis://user:s3cretpw@host:bad?master_name=m",
		"redis://user:s3cretpw@127.0.0.1:6379/x",
		"redis://user:s3cretpw@127.0.0.1:6379?master_name=m&bogus=s3cret",
	} {
		c, err := NewClient(raw)
		if err == nil {
			c.Close()
			t.Errorf("NewClient(%q) succeeded, want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3c") || !errors.Is(err, store.ErrInvalidOption) {
			t.Errorf("NewClient(%q) = %v, want store.ErrInvalidOption without the password", raw, err)
		}
	}
}

// TestHungServerHonoursDeadline checks that a client from NewClient gives
// up on a server that accepts connections but never answers (a stopped
// redis-server) by its context's deadline: before, go-redis kept to its
// socket timeouts and retries, 5 s for a command and 40 s for a pipeline,
// whatever the context said.
func TestHungServerHonoursDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	c, err := NewClient("redis://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const budget = 300 * time.Millisecond
	for name, call := range map[string]func(context.Context) error{
		"Ping": s.Ping,
		"Results (a pipeline)": func(ctx context.Context) error {
			_, _, err := s.Results(ctx, "j", 0, 10)
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		start := time.Now()
		err := call(ctx)
		cancel()
		if d := time.Since(start); err == nil || d > budget+time.Second {
			t.Errorf("%s on a hung server: %v after %v, want an error within %v of the deadline", name, err, d.Round(time.Millisecond), time.Second)
		}
	}
}

// TestUnavailableReplies checks that the error replies of a server that
// cannot serve for now (LOADING after a restart, MASTERDOWN, …) are
// store.ErrUnavailable, on a command and in a pipeline, and still the
// server's replies; other replies are not. Before, a Redis loading its data
// made every gateway route that reads the store answer 500.
func TestUnavailableReplies(t *testing.T) {
	c := newClient(t)
	defer c.Close()
	newTestStore(t, c, storetest.Config{}) // New adds the hook to c
	ctx := context.Background()
	const reply = "return redis.error_reply(ARGV[1])"
	for msg, want := range map[string]bool{
		"LOADING Redis is loading the dataset in memory":                    true,
		"MASTERDOWN Link with MASTER is down":                               true,
		"CLUSTERDOWN The cluster is down":                                   true,
		"TRYAGAIN Multiple keys request during rehashing":                   true,
		"READONLY You can't write against a read only replica.":             true,
		"BUSY Redis is busy running a script.":                              true,
		"NOREPLICAS Not enough good replicas to write.":                     true,
		"ERR wrong number of arguments":                                     false,
		"BUSYKEY Target key name already exists.":                           false,
		"WRONGTYPE Operation against a key holding the wrong kind of value": false,
	} {
		err := c.Eval(ctx, reply, nil, msg).Err()
		var rerr redis.Error
		if !errors.As(err, &rerr) || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("%q: err = %v, want the reply", msg, err)
		}
		if got := errors.Is(err, store.ErrUnavailable); got != want {
			t.Errorf("%q: errors.Is(err, store.ErrUnavailable) = %v, want %v", msg, got, want)
		}
		var cmd *redis.Cmd
		perr := func() error {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				cmd = p.Eval(ctx, reply, nil, msg)
				return nil
			})
			return err
		}()
		if errors.Is(perr, store.ErrUnavailable) != want || errors.Is(cmd.Err(), store.ErrUnavailable) != want {
			t.Errorf("%q in a pipeline: err = %v, command's err = %v, want ErrUnavailable %v", msg, perr, cmd.Err(), want)
		}
	}
}

// TestCommitChunkScriptReload checks the one-pipeline commit (documents
// script and results script) after Redis lost its scripts.
func TestCommitChunkScriptReload(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	s := newTestStore(t, c, storetest.Config{})
	if err := s.CreateJob(ctx, store.Job{ID: "j", Kind: store.KindVerify, Total: 2}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		w := store.ChunkWrites{
			Documents: []store.Document{{ID: fmt.Sprintf("d%d", i), JSON: []byte(`{"n":1}`), IssuerID: "iss"}},
			SigKeys:   [][32]byte{{byte(i)}},
			SigValid:  []bool{true},
			Results:   results(i, i+1),
		}
		p, err := s.CommitChunk(ctx, "j", w)
		if err != nil {
			t.Fatalf("CommitChunk %d after SCRIPT FLUSH: %v", i, err)
		}
		if p.Job.Done != i+1 || p.Completed != (i == 1) {
			t.Errorf("chunk %d: progress %+v", i, p)
		}
		if b, err := s.GetDocument(ctx, w.Documents[0].ID); err != nil || string(b) != `{"n":1}` {
			t.Errorf("document %d = %s, %v", i, b, err)
		}
	}
}

// orderHook records the names and first keys of the commands of each
// pipeline.
type orderHook struct{ pipes [][]string }

func (h *orderHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *orderHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *orderHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var pipe []string
		for _, c := range cmds {
			key := ""
			if args := c.Args(); len(args) > 1 {
				key, _ = args[1].(string)
			}
			pipe = append(pipe, c.Name()+" "+key)
		}
		h.pipes = append(h.pipes, pipe)
		return next(ctx, cmds)
	}
}

// TestIndexesBeforeDocuments checks the write order that lets a writer skip
// a document stored with the same bytes (store.Documents): every index ZADD
// of a put is sent before the document's SET, in PutDocuments and in
// CommitChunk.
func TestIndexesBeforeDocuments(t *testing.T) {
	ctx := context.Background()
	c := newClient(t).(*redis.Client)
	h := &orderHook{}
	c.AddHook(h)
	s := newTestStore(t, c, storetest.Config{})
	docs := []store.Document{
		{ID: "d1", JSON: []byte(`{"a":1}`), IssuerID: "i", BeneficiaryID: "b1", CreatedAt: "2026-02-19T01:38:56.342Z", Tags: []string{"t"}},
		{ID: "d2", JSON: []byte(`{"a":2}`), IssuerID: "i", BeneficiaryID: "b2", CreatedAt: "2026-02-19T01:38:57Z", HasChain: true},
	}
	check := func(what string) {
		t.Helper()
		writes := 0
		for _, pipe := range h.pipes {
			lastZAdd, firstSet, sets := -1, -1, 0
			for i, cmd := range pipe {
				switch {
				case strings.HasPrefix(cmd, "zadd "+s.opts.prefix+"idx:"):
					lastZAdd = i
				case strings.HasPrefix(cmd, "set "+s.opts.prefix+"doc:"):
					sets++
					if firstSet < 0 {
						firstSet = i
					}
				}
			}
			if sets == 0 {
				continue
			}
			writes++
			if sets != len(docs) || lastZAdd < 0 || lastZAdd > firstSet {
				t.Errorf("%s sent %q: want every idx ZADD before the %d document SETs", what, pipe, len(docs))
			}
		}
		if writes == 0 {
			t.Errorf("%s: no pipeline wrote the documents", what)
		}
		h.pipes = nil
	}
	if err := s.PutDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	check("PutDocuments")
	if err := s.CreateJob(ctx, store.Job{ID: "j", Kind: store.KindVerify, Total: 1}); err != nil {
		t.Fatal(err)
	}
	h.pipes = nil
	if _, err := s.CommitChunk(ctx, "j", store.ChunkWrites{Documents: docs, SigKeys: [][32]byte{{1}}, SigValid: []bool{true},
		Results: []store.Result{{Index: 0, Valid: true}}}); err != nil {
		t.Fatal(err)
	}
	check("CommitChunk")
}

// TestManyTagsFewKeys: a covenant that fills its megabyte with tags makes a
// bounded number of index keys, one per indexed tag (store.IndexedTags),
// in PutDocuments and in CommitChunk: a key per tag took a 120,000-tag
// covenant to 120,000 keys and some 24 MB of Redis memory.
func TestManyTagsFewKeys(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	s := newTestStore(t, c, storetest.Config{})
	tags := make([]string, 20_000)
	for i := range tags {
		tags[i] = fmt.Sprint(i)
	}
	doc := store.Document{ID: strings.Repeat("a", 64), JSON: []byte(`{"metadata":{"tags":["0"]}}`), IssuerID: "i", BeneficiaryID: "b",
		CreatedAt: "2026-02-19T01:38:56.342Z", Tags: tags}
	if err := s.PutDocuments(ctx, []store.Document{doc}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, store.Job{ID: "j", Kind: store.KindVerify, Total: 1}); err != nil {
		t.Fatal(err)
	}
	doc.ID = strings.Repeat("b", 64)
	if _, err := s.CommitChunk(ctx, "j", store.ChunkWrites{Documents: []store.Document{doc}}); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, s.opts.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	// The job, two documents, idx:created, idx:issuer:i,
	// idx:beneficiary:b, idx:chain:0 and the indexed tags.
	if want := 7 + store.MaxIndexedTags; len(keys) > want {
		t.Errorf("%d keys for two documents of %d tags, want at most %d", len(keys), len(tags), want)
	}
}
