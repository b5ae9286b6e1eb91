package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/storetest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// This file runs the store on real multi-process topologies: a three-master
// Redis Cluster reached through a redis+cluster:// URL, and a primary with a
// replica behind a sentinel reached through ?master_name=.

// TestStoreThreeNodeCluster runs the suite on a three-master cluster, whose
// pipelines and key lookups go to several nodes (TestStoreCluster's one-node
// cluster only proves that no command spans slots), then places the keys of
// each part of the store on chosen nodes.
func TestStoreThreeNodeCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, redistest.ClusterOptions{})
	newClient := func(t *testing.T) redis.UniversalClient {
		t.Helper()
		c, err := NewClient(cl.URL())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*redis.ClusterClient); !ok {
			c.Close()
			t.Fatalf("NewClient(%s) = %T, want *redis.ClusterClient", cl.URL(), c)
		}
		return c
	}
	t.Run("Suite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
			return newTestStore(t, newClient(t), cfg, twinOf(cfg)...)
		})
	})
	t.Run("AcrossNodes", func(t *testing.T) {
		testAcrossNodes(t, cl, newTestStore(t, newClient(t), storetest.Config{}))
	})
	t.Run("ScriptReload", func(t *testing.T) {
		testClusterScriptReload(t, cl, newTestStore(t, newClient(t), storetest.Config{}))
	})
}

// placer finds names whose keys land on chosen nodes of a cluster, as the
// nodes themselves report slot ownership.
type placer struct {
	t     *testing.T
	cl    *redistest.Cluster
	nodes map[string]int // address -> index in cl.Nodes
}

func newPlacer(t *testing.T, cl *redistest.Cluster) placer {
	p := placer{t: t, cl: cl, nodes: map[string]int{}}
	for i, n := range cl.Nodes {
		p.nodes[n.Addr] = i
	}
	return p
}

// node returns the index of the node that owns key.
func (p placer) node(key string) int {
	p.t.Helper()
	n, err := p.cl.NodeFor(context.Background(), key)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.nodes[n.Addr]
}

// spread returns one name per node, the j-th one's key on node j: the first
// of name(0), name(1), … to land there.
func (p placer) spread(name func(i int) string, key func(string) string) []string {
	p.t.Helper()
	out := make([]string, len(p.cl.Nodes))
	left := len(out)
	for i := 0; left > 0; i++ {
		if i > 1000 {
			p.t.Fatalf("no names for every node after %d tries: %q", i, out)
		}
		n := name(i)
		if j := p.node(key(n)); out[j] == "" {
			out[j] = n
			left--
		}
	}
	return out
}

// nodesOf returns the indexes of the nodes holding keys, without repeats.
func (p placer) nodesOf(keys ...string) []int {
	p.t.Helper()
	var out []int
	for _, k := range keys {
		if j := p.node(k); !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

// onNode checks, on the node that owns each key and with a client of that
// node alone, that the key exists: the data really is spread.
func (p placer) onNode(what string, keys ...string) {
	p.t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		n, err := p.cl.NodeFor(ctx, k)
		if err != nil {
			p.t.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		got, err := c.Exists(ctx, k).Result()
		c.Close()
		if err != nil || got != 1 {
			p.t.Errorf("%s: EXISTS %s on its node %s = %d, %v; want 1", what, k, n.Addr, got, err)
		}
	}
}

var allNodes = []int{0, 1, 2}

// acrossDoc is a document of testAcrossNodes with its listing position.
type acrossDoc struct {
	doc store.Document
	ms  int64
}

// testAcrossNodes checks the parts of the store whose keys a Cluster spreads
// over nodes, with names chosen so that they do land on all three: the
// listing (the walked index, the filter indexes and the documents on
// different nodes), HasDocuments, the signature cache, rate-limit scopes and
// audit logs, and chunk commits that write to every node.
func testAcrossNodes(t *testing.T, cl *redistest.Cluster, s *Store) {
	ctx := context.Background()
	p := newPlacer(t, cl)
	if !s.cluster {
		t.Fatal("the store does not know it is on a Cluster")
	}
	t.Run("Listing", func(t *testing.T) {
		p := p
		p.t = t
		issuers := p.spread(func(i int) string { return fmt.Sprintf("issuer-%d", i) }, func(n string) string { return s.idxKey("issuer", n) })
		bens := p.spread(func(i int) string { return fmt.Sprintf("ben-%d", i) }, func(n string) string { return s.idxKey("beneficiary", n) })
		tags := p.spread(func(i int) string { return fmt.Sprintf("tag-%d", i) }, func(n string) string { return s.idxKey("tag", n) })
		rare := p.spread(func(i int) string { return fmt.Sprintf("rare-%d", i) }, func(n string) string { return s.idxKey("tag", n) })[1]
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var docs []acrossDoc
		for i := range 108 { // every (issuer, beneficiary, tag) four times
			at := t0.Add(time.Duration(i/4) * time.Second)
			created, ms := at.Format(time.RFC3339Nano), at.UnixMilli()
			if i == 50 {
				created, ms = "not a time", 0
			}
			tg := []string{tags[(i/9)%3]}
			if i%10 == 0 {
				tg = append(tg, rare)
			}
			docs = append(docs, acrossDoc{ms: ms, doc: store.Document{
				ID: fmt.Sprintf("d%03d", 107-i), IssuerID: issuers[i%3], BeneficiaryID: bens[(i/3)%3],
				CreatedAt: created, HasChain: i%4 == 0, Tags: tg,
			}})
		}
		var docKeys []string
		for i := range docs {
			d := &docs[i].doc
			d.JSON = documentJSON(t, *d)
			docKeys = append(docKeys, s.docKey(d.ID))
		}
		if got := p.nodesOf(docKeys...); !slices.Equal(got, allNodes) {
			t.Fatalf("document keys on nodes %v, want all three", got)
		}
		// Half the documents through PutDocuments, half through chunk
		// commits of jobs on each node, with signature outcomes.
		half := len(docs) / 2
		var put []store.Document
		for _, d := range docs[:half] {
			put = append(put, d.doc)
		}
		if err := s.PutDocuments(ctx, put); err != nil {
			t.Fatal(err)
		}
		jobs := p.spread(func(i int) string { return fmt.Sprintf("job-%d", i) }, s.jobKey)
		for j, id := range jobs {
			if err := s.CreateJob(ctx, store.Job{ID: id, Kind: store.KindVerify, Total: 2}); err != nil {
				t.Fatal(err)
			}
			var w store.ChunkWrites
			for i := half + j; i < len(docs); i += len(jobs) {
				w.Documents = append(w.Documents, docs[i].doc)
			}
			for i := range 6 {
				w.SigKeys = append(w.SigKeys, [32]byte{0xcc, byte(j), byte(i)})
				w.SigValid = append(w.SigValid, i%2 == 0)
			}
			w.Results = []store.Result{{Index: 0, Valid: true}, {Index: 1, Error: "e"}}
			pr, err := s.CommitChunk(ctx, id, w)
			if err != nil {
				t.Fatalf("CommitChunk(%s): %v", id, err)
			}
			if !pr.Completed || pr.Job.Done != 2 || pr.Job.Valid != 1 || pr.Job.Failed != 1 {
				t.Errorf("CommitChunk(%s): progress %+v", id, pr)
			}
			got, err := s.GetSigs(ctx, w.SigKeys)
			if err != nil || !slices.Equal(got, []byte{1, 2, 1, 2, 1, 2}) {
				t.Errorf("GetSigs after CommitChunk(%s) = %v, %v", id, got, err)
			}
		}
		p.onNode("documents", docKeys...)
		p.onNode("jobs", s.jobKey(jobs[0]), s.resultsKey(jobs[1]), s.jobKey(jobs[2]))

		no, yes := false, true
		for _, tc := range []struct {
			q     store.DocumentQuery
			limit int
			nodes []int // of the walked and the other filters' indexes
		}{
			{q: store.DocumentQuery{}, limit: 7},
			{q: store.DocumentQuery{Issuer: issuers[0]}, limit: 4},
			{q: store.DocumentQuery{Issuer: issuers[0], Beneficiary: bens[1], Tag: tags[2]}, limit: 1, nodes: allNodes},
			{q: store.DocumentQuery{Issuer: issuers[2], Beneficiary: bens[0], HasChain: &no}, limit: 3},
			{q: store.DocumentQuery{Issuer: issuers[0], Tag: rare, HasChain: &yes}, limit: 2},
			{q: store.DocumentQuery{Beneficiary: bens[2], Tag: tags[0], CreatedAfter: t0.Add(2 * time.Second),
				CreatedBefore: t0.Add(20 * time.Second)}, limit: 2},
			{q: store.DocumentQuery{Tag: rare, CreatedBefore: t0.Add(time.Second)}, limit: 5},
		} {
			walk, others, err := s.pickIndex(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if tc.nodes != nil {
				if got := p.nodesOf(append([]string{walk}, others...)...); !slices.Equal(got, tc.nodes) {
					t.Fatalf("%+v: indexes %s, %q on nodes %v, want %v", tc.q, walk, others, got, tc.nodes)
				}
			}
			want := expectAcross(docs, tc.q)
			got := listAcross(t, s, tc.q, tc.limit)
			if len(want) == 0 {
				t.Fatalf("%+v: the corpus has no match; the case tests nothing", tc.q)
			}
			if d := gocmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListDocuments(%+v) by pages of %d (-want +got):\n%s", tc.q, tc.limit, d)
			}
		}

		// HasDocuments and GetDocuments over all nodes, with absent
		// documents on each node and repeats.
		missing := p.spread(func(i int) string { return fmt.Sprintf("missing-%d", i) }, s.docKey)
		var ids []string
		var want []bool
		for i, d := range docs {
			if i%9 == 0 {
				ids, want = append(ids, missing[i%3]), append(want, false)
			}
			ids, want = append(ids, d.doc.ID), append(want, true)
		}
		ids, want = append(ids, docs[0].doc.ID, missing[0]), append(want, true, false)
		has, err := s.HasDocuments(ctx, ids)
		if err != nil || !slices.Equal(has, want) {
			t.Errorf("HasDocuments = %v, %v; want %v", has, err, want)
		}
		bodies, err := s.GetDocuments(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string][]byte{}
		for _, d := range docs {
			byID[d.doc.ID] = d.doc.JSON
		}
		for i, id := range ids {
			if string(bodies[i]) != string(byID[id]) {
				t.Errorf("GetDocuments: %s = %q, want %q", id, bodies[i], byID[id])
			}
		}
		all := make([]string, len(docs))
		for i, d := range docs {
			all[i] = d.doc.ID
		}
		if has, err := s.HasDocuments(ctx, all); err != nil || slices.Contains(has, false) {
			t.Errorf("HasDocuments of stored documents only = %v, %v", has, err)
		}
	})

	t.Run("SigCache", func(t *testing.T) {
		p := p
		p.t = t
		var keys [][32]byte
		var names []string
		for i := range 60 {
			k := [32]byte{0x5a, byte(i)}
			keys = append(keys, k)
			names = append(names, s.sigKey(k))
		}
		if got := p.nodesOf(names...); !slices.Equal(got, allNodes) {
			t.Fatalf("signature keys on nodes %v, want all three", got)
		}
		// Store two thirds; the rest stay unknown, on every node.
		var put [][32]byte
		var valid []bool
		var putNames []string
		want := make([]byte, len(keys))
		for i, k := range keys {
			if i%3 == 2 {
				continue
			}
			put, valid, putNames = append(put, k), append(valid, i%3 == 0), append(putNames, names[i])
			want[i] = 2 // invalid
			if i%3 == 0 {
				want[i] = 1 // valid
			}
		}
		if err := s.PutSigs(ctx, put, valid); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSigs(ctx, keys)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("GetSigs = %v, %v; want %v", got, err, want)
		}
		p.onNode("signature outcomes", putNames...)
	})

	t.Run("RateLimits", func(t *testing.T) {
		p := p
		p.t = t
		scopes := p.spread(func(i int) string { return fmt.Sprintf("scope-%d", i) }, func(n string) string { return s.rateKeys(n)[0] })
		now := time.UnixMilli(1_800_000_000_000)
		l := audit.Limit{Action: "read.*", Count: 6, PeriodSeconds: 60}
		other := audit.Limit{Action: "**", Count: 100, PeriodSeconds: 3600}
		var mu sync.Mutex
		allowed := map[string]int{}
		var wg sync.WaitGroup
		for _, sc := range scopes {
			for range 4 {
				wg.Go(func() {
					for range 3 {
						st, err := s.AcquireRate(ctx, sc, l, []audit.Limit{l, other}, now)
						if err != nil {
							t.Error(err)
							return
						}
						if !st.Exceeded {
							mu.Lock()
							allowed[sc]++
							mu.Unlock()
						}
					}
				})
			}
		}
		wg.Wait()
		for _, sc := range scopes {
			if allowed[sc] != 6 {
				t.Errorf("scope %s: %d of 12 acquisitions allowed, want 6", sc, allowed[sc])
			}
			states, err := s.RateStates(ctx, sc)
			want := []audit.RateLimitState{
				{Action: l.Action, Count: 6, PeriodStart: now, PeriodSeconds: 60, Limit: 6},
				{Action: other.Action, Count: 6, PeriodStart: now, PeriodSeconds: 3600, Limit: 100},
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := gocmp.Diff(want, states); d != "" {
				t.Errorf("RateStates(%s) (-want +got):\n%s", sc, d)
			}
			p.onNode("rate windows of "+sc, s.rateKeys(sc)...)
		}
		if err := s.ResetRates(ctx, scopes[1]); err != nil {
			t.Fatal(err)
		}
		for i, sc := range scopes {
			st, err := s.CheckRate(ctx, sc, l, now)
			if err != nil {
				t.Fatal(err)
			}
			if st.Exceeded != (i != 1) {
				t.Errorf("after resetting %s: CheckRate(%s) = %+v", scopes[1], sc, st)
			}
		}
	})

	t.Run("AuditChains", func(t *testing.T) {
		p := p
		p.t = t
		covs := p.spread(func(i int) string { return fmt.Sprintf("cov-%d", i) }, func(n string) string { return s.auditKeys(n)[0] })
		const writers, each = 4, 6
		var wg sync.WaitGroup
		for _, id := range covs {
			for w := range writers {
				wg.Go(func() {
					for k := range each {
						_, err := s.AppendAudit(ctx, id, func(prev audit.Head) (audit.Entry, error) {
							return audit.Entry{Index: prev.Len, Timestamp: "2026-03-14T15:09:26.535Z",
								Action: fmt.Sprintf("w%d.%d", w, k), Resource: "/r/" + id, Outcome: audit.Executed,
								PreviousHash: prev.Hash}.Seal(), nil
						})
						if err != nil {
							t.Errorf("AppendAudit(%s): %v", id, err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		const n = writers * each
		entries := map[string][]audit.Entry{}
		for _, id := range covs {
			es, err := s.AuditEntries(ctx, id, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != n {
				t.Fatalf("%s: %d entries, want %d", id, len(es), n)
			}
			if err := audit.VerifyIntegrity(es); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			head, err := s.AuditHead(ctx, id)
			if err != nil || head != (audit.Head{Len: n, Hash: es[n-1].Hash}) {
				t.Errorf("AuditHead(%s) = %+v, %v", id, head, err)
			}
			hashes, err := s.AuditHashes(ctx, id, 0, -1)
			var want []string
			for _, e := range es {
				want = append(want, e.Hash)
			}
			if err != nil || !slices.Equal(hashes, want) {
				t.Errorf("AuditHashes(%s) = %v, %v; want the entries' hashes", id, hashes, err)
			}
			entries[id] = es
			p.onNode("audit log of "+id, s.auditKeys(id)[:2]...)
		}
		// Trimming one log leaves the others whole.
		ck, err := s.TrimAudit(ctx, covs[2], 10)
		if err != nil || ck != (audit.Head{Len: 10, Hash: entries[covs[2]][9].Hash}) {
			t.Fatalf("TrimAudit = %+v, %v", ck, err)
		}
		for _, id := range covs {
			es, err := s.AuditEntries(ctx, id, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			from := audit.Head{Hash: audit.GenesisHash}
			if id == covs[2] {
				from = ck
			}
			if len(es) != n-from.Len {
				t.Errorf("%s after the trim of %s: %d entries", id, covs[2], len(es))
			}
			if err := audit.VerifyFrom(from, es); err != nil {
				t.Errorf("%s after the trim of %s: %v", id, covs[2], err)
			}
			got, err := s.AuditCheckpoint(ctx, id)
			if err != nil || got.Len != from.Len {
				t.Errorf("AuditCheckpoint(%s) = %+v, %v; want length %d", id, got, err, from.Len)
			}
		}
	})
}

// documentJSON is a document whose JSON states d's indexed fields, which a
// listing reads back.
func documentJSON(t *testing.T, d store.Document) []byte {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q,"issuer":{"id":%q},"beneficiary":{"id":%q},"createdAt":%q`, d.ID, d.IssuerID, d.BeneficiaryID, d.CreatedAt)
	if d.HasChain {
		b.WriteString(`,"chain":{"parentId":"p"}`)
	}
	b.WriteString(`,"metadata":{"tags":[`)
	for i, tg := range d.Tags {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q", tg)
	}
	b.WriteString("]}}")
	return []byte(b.String())
}

// expectAcross is the reference answer to q over docs.
func expectAcross(docs []acrossDoc, q store.DocumentQuery) []store.Document {
	all := make([]store.Document, len(docs))
	ms := make([]int64, len(docs))
	for i, d := range docs {
		all[i], ms[i] = d.doc, d.ms
	}
	return storetest.ExpectListing(all, ms, q)
}

// listAcross pages through q by pages of limit, following the cursors.
func listAcross(t *testing.T, s *Store, q store.DocumentQuery, limit int) []store.Document {
	t.Helper()
	q.Limit = limit
	all := []store.Document{}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("ListDocuments(%+v): no end after %d pages", q, pages)
		}
		page, err := s.ListDocuments(context.Background(), q)
		if err != nil {
			t.Fatalf("ListDocuments(%+v): %v", q, err)
		}
		all = append(all, page.Documents...)
		if page.Next == "" {
			return all
		}
		if len(page.Documents) != limit {
			t.Fatalf("ListDocuments(%+v): page %d has %d documents and a cursor", q, pages, len(page.Documents))
		}
		q.Cursor = page.Next
	}
}

// testClusterScriptReload flushes the scripts of every node and checks that
// each script-backed call loads its script again on the node it runs on.
func testClusterScriptReload(t *testing.T, cl *redistest.Cluster, s *Store) {
	ctx := context.Background()
	if err := s.CreateJob(ctx, store.Job{ID: "j", Kind: store.KindVerify, Total: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDocuments(ctx, []store.Document{{ID: "d", JSON: []byte(`{"issuer":{"id":"i"},"metadata":{"tags":["t"]}}`),
		IssuerID: "i", Tags: []string{"t"}}}); err != nil {
		t.Fatal(err)
	}
	flush := func() {
		t.Helper()
		if err := s.c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for _, n := range cl.Nodes {
			c := redis.NewClient(&redis.Options{Addr: n.Addr})
			known, err := c.ScriptExists(ctx, recordScript.Hash(), walkScript.Hash()).Result()
			c.Close()
			if err != nil || slices.Contains(known, true) {
				t.Fatalf("SCRIPT EXISTS on %s after SCRIPT FLUSH = %v, %v", n.Addr, known, err)
			}
		}
	}
	flush()
	if p, err := s.RecordResults(ctx, "j", results(0, 1)); err != nil || p.Job.Done != 1 {
		t.Errorf("RecordResults after SCRIPT FLUSH = %+v, %v", p, err)
	}
	flush()
	if p, err := s.CommitChunk(ctx, "j", store.ChunkWrites{Results: results(1, 2)}); err != nil || !p.Completed {
		t.Errorf("CommitChunk after SCRIPT FLUSH = %+v, %v", p, err)
	}
	flush()
	if page, err := s.ListDocuments(ctx, store.DocumentQuery{Issuer: "i", Tag: "t"}); err != nil || len(page.Documents) != 1 {
		t.Errorf("ListDocuments after SCRIPT FLUSH = %+v, %v", page, err)
	}
	flush()
	l := audit.Limit{Action: "a", Count: 1, PeriodSeconds: 60}
	if st, err := s.AcquireRate(ctx, "sc", l, []audit.Limit{l}, time.Now()); err != nil || st.Exceeded {
		t.Errorf("AcquireRate after SCRIPT FLUSH = %+v, %v", st, err)
	}
	flush()
	if _, err := s.AppendAudit(ctx, "cov", func(prev audit.Head) (audit.Entry, error) {
		return audit.Entry{Index: prev.Len, Action: "a", Outcome: audit.Executed, PreviousHash: prev.Hash}.Seal(), nil
	}); err != nil {
		t.Errorf("AppendAudit after SCRIPT FLUSH: %v", err)
	}
}

// TestStoreSentinel runs the store through a sentinel: a client given only
// the sentinel's address and the master name reaches the primary, the suite
// passes, and a store follows a fail-over to the promoted replica without
// losing what a replica acknowledged.
func TestStoreSentinel(t *testing.T) {
	t.Parallel()
	sn := redistest.StartSentinel(t, redistest.SentinelOptions{Replicas: 1})
	newClient := func(t *testing.T) redis.UniversalClient {
		t.Helper()
		c, err := NewClient(sn.URL())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("ReachesPrimary", func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t, newClient(t), storetest.Config{})
		if s.cluster {
			t.Fatal("a Sentinel store takes itself for a Cluster")
		}
		if err := s.PutDocuments(ctx, []store.Document{{ID: "d", JSON: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		direct := redis.NewClient(&redis.Options{Addr: sn.Primary.Addr})
		defer direct.Close()
		if got, err := direct.Get(ctx, s.docKey("d")).Result(); err != nil || got != "{}" {
			t.Errorf("the document on the primary = %q, %v", got, err)
		}
	})
	t.Run("Suite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
			return newTestStore(t, newClient(t), cfg, twinOf(cfg)...)
		})
	})
	t.Run("Failover", func(t *testing.T) { testSentinelFailover(t, sn, newClient) })
}

// testSentinelFailover writes through a store that waits for a replica,
// fails the primary over to that replica, and checks that the same store
// reaches the new primary, which has every acknowledged write.
func testSentinelFailover(t *testing.T, sn *redistest.Sentinel, newClient func(*testing.T) redis.UniversalClient) {
	ctx := context.Background()
	s := newTestStore(t, newClient(t), storetest.Config{}, WithReplicaWait(1, 2*time.Second))
	job := store.Job{ID: "fo", Kind: store.KindVerify, Total: 4}
	if err := s.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	doc := store.Document{ID: "d", JSON: []byte(`{"issuer":{"id":"i"}}`), IssuerID: "i"}
	if err := s.PutDocuments(ctx, []store.Document{doc}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigs(ctx, [][32]byte{{7}}, []bool{true}); err != nil {
		t.Fatal(err)
	}
	appendEntry := func() error {
		_, err := s.AppendAudit(ctx, "cov", func(prev audit.Head) (audit.Entry, error) {
			return audit.Entry{Index: prev.Len, Action: "a", Outcome: audit.Executed, PreviousHash: prev.Hash}.Seal(), nil
		})
		return err
	}
	for range 3 {
		if err := appendEntry(); err != nil {
			t.Fatal(err)
		}
	}
	// The replica acknowledges these results, and with them every write
	// before them (replication is one ordered stream).
	if _, err := s.RecordResults(ctx, job.ID, results(0, 2)); err != nil {
		t.Fatalf("RecordResults before the fail-over: %v", err)
	}
	old := sn.Primary
	promoted, err := sn.Failover()
	if err != nil {
		t.Fatal(err)
	}

	// The store's client learns of the switch from the sentinel; until
	// then a call may fail, and is retried as a worker would.
	var p store.Progress
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err = s.RecordResults(ctx, job.ID, results(2, 4))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RecordResults after the fail-over from %s to %s: %v\n%s", old.Addr, promoted.Addr, err, sn.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := s.GetJob(ctx, job.ID); err != nil || got.Done != 4 || got.Status != store.StatusCompleted {
		t.Errorf("job after the fail-over = %+v, %v (last progress %+v)", got, err, p)
	}
	if err := appendEntry(); err != nil {
		t.Fatalf("AppendAudit after the fail-over: %v", err)
	}
	es, err := s.AuditEntries(ctx, "cov", 0, -1)
	if err != nil || len(es) != 4 {
		t.Fatalf("audit entries after the fail-over: %d, %v; want 4", len(es), err)
	}
	if err := audit.VerifyIntegrity(es); err != nil {
		t.Error(err)
	}
	if b, err := s.GetDocument(ctx, doc.ID); err != nil || string(b) != string(doc.JSON) {
		t.Errorf("document after the fail-over = %s, %v", b, err)
	}
	if got, err := s.GetSigs(ctx, [][32]byte{{7}}); err != nil || !slices.Equal(got, []byte{1}) {
		t.Errorf("signature outcome after the fail-over = %v, %v", got, err)
	}
	// All of it is on the new primary, read there directly.
	direct := redis.NewClient(&redis.Options{Addr: promoted.Addr})
	defer direct.Close()
	if done, err := direct.HGet(ctx, s.jobKey(job.ID), "done").Int(); err != nil || done != 4 {
		t.Errorf("done on the new primary %s = %d, %v; want 4", promoted.Addr, done, err)
	}
	if n, err := direct.LLen(ctx, s.auditKeys("cov")[0]).Result(); err != nil || n != 4 {
		t.Errorf("audit entries on the new primary = %d, %v; want 4", n, err)
	}
	if n, err := direct.Exists(ctx, s.docKey(doc.ID), s.sigKey([32]byte{7})).Result(); err != nil || n != 2 {
		t.Errorf("document and signature outcome on the new primary: %d of 2, %v", n, err)
	}
}
