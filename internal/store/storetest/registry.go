package storetest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stele-go/stele/internal/store"
)

// regDoc is a document of the listing tests with the position it must list
// at.
type regDoc struct {
	doc store.Document
	ms  int64 // createdAt in Unix ms, as the listing orders it
}

// makeRegDoc returns a document whose JSON states its indexed fields (as the
// ones internal/jobs stores), so that a store may read them from either.
func makeRegDoc(t *testing.T, id, issuer, beneficiary, createdAt string, ms int64, chain bool, tags ...string) regDoc {
	t.Helper()
	obj := map[string]any{
		"id":          id,
		"version":     "1.0",
		"issuer":      map[string]any{"id": issuer, "publicKey": strings.Repeat("ab", 32), "role": "issuer"},
		"beneficiary": map[string]any{"id": beneficiary, "publicKey": strings.Repeat("cd", 32), "role": "beneficiary"},
		"createdAt":   createdAt,
		"constraints": "permit read on '**'",
	}
	if chain {
		obj["chain"] = map[string]any{"parentId": strings.Repeat("0", 64), "relation": "delegates", "depth": 1}
	}
	if tags != nil {
		obj["metadata"] = map[string]any{"name": "n", "tags": tags}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return regDoc{
		doc: store.Document{ID: id, JSON: b, IssuerID: issuer, BeneficiaryID: beneficiary, CreatedAt: createdAt, HasChain: chain, Tags: tags},
		ms:  ms,
	}
}

// listed is what a listing returns for d.
func (d regDoc) listed() store.Document {
	out := d.doc
	out.Tags = store.IndexedTags(out.Tags)
	return out
}

var listT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// registryCorpus stores and returns documents spread over issuers,
// beneficiaries, chain presence, tags and times, with groups of equal
// createdAt and a few odd timestamps.
func registryCorpus(t *testing.T, s store.Store) []regDoc {
	t.Helper()
	var docs []regDoc
	for i := range 60 {
		at := listT0.Add(time.Duration(i/3) * time.Second)
		var tags []string
		switch {
		case i%10 == 0:
			tags = []string{"five", "all", "even", "five"} // a duplicate
		case i%5 == 0:
			tags = []string{"five", "all"}
		case i%2 == 0:
			tags = []string{"even", "all"}
		case i%7 == 0:
			tags = nil
		default:
			tags = []string{"all"}
		}
		docs = append(docs, makeRegDoc(t, newID(t, "doc"), fmt.Sprintf("issuer-%d", i%3), fmt.Sprintf("ben-%d", i%2),
			at.Format("2006-01-02T15:04:05.000Z07:00"), at.UnixMilli(), i%4 == 0, tags...))
	}
	odd := []struct {
		createdAt string
		ms        int64
	}{
		{"not a time", 0},                                                          // the epoch
		{"1969-12-31T23:59:59.999Z", -1},                                           // before the epoch
		{"2026-01-01T00:00:10.123456789Z", 1767225610123},                          // truncated to ms
		{"2026-01-01T01:00:05.000+01:00", listT0.Add(5 * time.Second).UnixMilli()}, // a zone: ties with UTC docs
		{"2026-01-01T00:00:05Z", listT0.Add(5 * time.Second).UnixMilli()},
	}
	for i, o := range odd {
		docs = append(docs, makeRegDoc(t, newID(t, "odd"), "issuer-odd", fmt.Sprintf("ben-%d", i%2), o.createdAt, o.ms, i%2 == 0, "odd", "all"))
	}
	var put []store.Document
	for _, d := range docs {
		put = append(put, d.doc)
	}
	if err := s.PutDocuments(ctx(t), put); err != nil {
		t.Fatalf("PutDocuments: %v", err)
	}
	return docs
}

// sortRegDocs orders docs as listings do.
func sortRegDocs(docs []regDoc) {
	slices.SortFunc(docs, func(a, b regDoc) int {
		return cmp.Or(cmp.Compare(a.ms, b.ms), strings.Compare(a.doc.ID, b.doc.ID))
	})
}

// ExpectListing is the reference answer to the listing q over docs, whose
// createdAt values sort as ms (Unix milliseconds, one per document): the
// documents that pass every filter, in (ms, ID) order, tags normalized. For
// tests of a store beyond the shared suite.
func ExpectListing(docs []store.Document, ms []int64, q store.DocumentQuery) []store.Document {
	rd := make([]regDoc, len(docs))
	for i := range docs {
		rd[i] = regDoc{doc: docs[i], ms: ms[i]}
	}
	return expectListing(rd, q)
}

// expectListing is the reference answer to q over docs.
func expectListing(docs []regDoc, q store.DocumentQuery) []store.Document {
	var keep []regDoc
	for _, d := range docs {
		switch {
		case q.Issuer != "" && d.doc.IssuerID != q.Issuer,
			q.Beneficiary != "" && d.doc.BeneficiaryID != q.Beneficiary,
			q.Tag != "" && !slices.Contains(store.IndexedTags(d.doc.Tags), q.Tag),
			q.HasChain != nil && d.doc.HasChain != *q.HasChain,
			!q.CreatedAfter.IsZero() && d.ms <= q.CreatedAfter.UnixMilli(),
			!q.CreatedBefore.IsZero() && d.ms >= q.CreatedBefore.UnixMilli():
			continue
		}
		keep = append(keep, d)
	}
	sortRegDocs(keep)
	out := []store.Document{}
	for _, d := range keep {
		out = append(out, d.listed())
	}
	return out
}

var docOpts = gocmp.Options{cmpopts.EquateEmpty()}

// listAll pages through q with limit and checks the page contract: every
// page but the last is full, Next is "" exactly on the last page, and only
// a listing with no documents has an empty page.
func listAll(t *testing.T, s store.Store, q store.DocumentQuery, limit int) []store.Document {
	t.Helper()
	q.Limit = limit
	all := []store.Document{}
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatalf("ListDocuments(%+v): no end after %d pages", q, pages)
		}
		page, err := s.ListDocuments(ctx(t), q)
		if err != nil {
			t.Fatalf("ListDocuments(%+v): %v", q, err)
		}
		all = append(all, page.Documents...)
		if page.Next == "" {
			if len(page.Documents) == 0 && pages > 0 {
				t.Errorf("ListDocuments(%+v): empty last page after %d pages", q, pages)
			}
			return all
		}
		if len(page.Documents) != limit {
			t.Fatalf("ListDocuments(%+v): page %d has %d documents and a next cursor, want %d", q, pages, len(page.Documents), limit)
		}
		q.Cursor = page.Next
	}
}

func ptr[T any](v T) *T { return &v }

func testListDocuments(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	docs := registryCorpus(t, s)
	at := func(sec int) time.Time { return listT0.Add(time.Duration(sec) * time.Second) }
	queries := map[string]store.DocumentQuery{
		"all":                         {},
		"issuer":                      {Issuer: "issuer-1"},
		"beneficiary":                 {Beneficiary: "ben-0"},
		"tag":                         {Tag: "five"},
		"tag everywhere":              {Tag: "all"},
		"chain":                       {HasChain: ptr(true)},
		"no chain":                    {HasChain: ptr(false)},
		"issuer and tag":              {Issuer: "issuer-0", Tag: "even"},
		"issuer beneficiary no chain": {Issuer: "issuer-2", Beneficiary: "ben-1", HasChain: ptr(false)},
		"all filters":                 {Issuer: "issuer-0", Beneficiary: "ben-0", Tag: "five", HasChain: ptr(true)},
		"after":                       {CreatedAfter: at(5)},
		"before":                      {CreatedBefore: at(5)},
		"between":                     {CreatedAfter: at(3), CreatedBefore: at(9)},
		"between with filters":        {CreatedAfter: at(3), CreatedBefore: at(15), Issuer: "issuer-1", Tag: "all"},
		"after the epoch":             {CreatedAfter: time.UnixMilli(0)},
		"before the epoch":            {CreatedBefore: time.UnixMilli(0)},
		"truncated after":             {CreatedAfter: at(5).Add(999 * time.Microsecond)},
		"truncated before":            {CreatedBefore: at(5).Add(999 * time.Microsecond)},
		"zoned bound":                 {CreatedAfter: at(4).In(time.FixedZone("Y", -5*3600))},
		"empty range":                 {CreatedAfter: at(5), CreatedBefore: at(5).Add(time.Millisecond)},
		"reversed range":              {CreatedAfter: at(9), CreatedBefore: at(3)},
		"unknown issuer":              {Issuer: "nobody"},
		"unknown tag":                 {Tag: "nope"},
		"unknown tag and issuer":      {Issuer: "issuer-1", Tag: "nope"},
	}
	for name, q := range queries {
		want := expectListing(docs, q)
		switch name {
		case "all":
			if len(want) != len(docs) {
				t.Fatalf("reference listing of all has %d of %d documents", len(want), len(docs))
			}
		case "empty range", "reversed range", "unknown issuer", "unknown tag", "unknown tag and issuer":
			if len(want) != 0 {
				t.Fatalf("reference listing %q is not empty", name)
			}
		default:
			if len(want) == 0 || len(want) == len(docs) {
				t.Fatalf("reference listing %q has %d of %d documents: not a filter test", name, len(want), len(docs))
			}
		}
		limits := []int{3, store.MaxListLimit}
		if name == "all" || name == "all filters" || name == "between with filters" {
			limits = append(limits, 1)
		}
		for _, limit := range limits {
			got := listAll(t, s, q, limit)
			if d := gocmp.Diff(want, got, docOpts); d != "" {
				t.Errorf("%s, limit %d: listing (-want +got):\n%s", name, limit, d)
			}
		}
	}
}

func testListDocumentsTies(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	var docs []regDoc
	var put []store.Document
	for range 50 {
		d := makeRegDoc(t, newID(t, "tie"), "iss", "ben", "2026-02-19T01:38:56.342Z", 1771465136342, false, "t")
		docs = append(docs, d)
		put = append(put, d.doc)
	}
	// IDs that differ in their last byte or length only, and one bytewise
	// above every letter.
	for _, id := range []string{"tie-a", "tie-a0", "tie-A", "tie-~", "tie-\u00e9"} {
		d := makeRegDoc(t, id, "iss", "ben", "2026-02-19T01:38:56.342Z", 1771465136342, false, "t")
		docs = append(docs, d)
		put = append(put, d.doc)
	}
	if err := s.PutDocuments(ctx(t), put); err != nil {
		t.Fatal(err)
	}
	// Putting documents again (a countersignature) lists them once.
	if err := s.PutDocuments(ctx(t), put[:10]); err != nil {
		t.Fatal(err)
	}
	sortRegDocs(docs)
	var want []store.Document
	for _, d := range docs {
		want = append(want, d.listed())
	}
	for _, q := range []store.DocumentQuery{{}, {Issuer: "iss", Tag: "t"}} {
		for _, limit := range []int{1, 7, 100} {
			got := listAll(t, s, q, limit)
			if d := gocmp.Diff(want, got, docOpts); d != "" {
				t.Errorf("ties, %+v, limit %d (-want +got):\n%s", q, limit, d)
			}
		}
	}

	// A cursor at a position no stored document holds (between two IDs of
	// the tie, or at another time) continues from that position.
	for _, c := range []struct {
		ms   int64
		id   string
		from int // first index of want that follows
	}{
		{1771465136342, want[20].ID + "\x00", 21},
		{1771465136342, want[20].ID[:len(want[20].ID)-1], 20},
		{1771465136341, "zzz", 0},
		{1771465136342, "\xff", len(want)},
		{1771465136343, "a", len(want)},
	} {
		cursor := store.EncodeCursor(c.ms, c.id)
		got := listAll(t, s, store.DocumentQuery{Cursor: cursor}, 1000)
		if d := gocmp.Diff(want[c.from:], got, docOpts); d != "" {
			t.Errorf("cursor (%d, %q) (-want +got):\n%s", c.ms, c.id, d)
		}
	}
}

func testListDocumentsLimits(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	var docs []regDoc
	var put []store.Document
	for i := range store.DefaultListLimit + 5 {
		at := listT0.Add(time.Duration(i) * time.Millisecond)
		d := makeRegDoc(t, newID(t, "doc"), "iss", "ben", at.Format(time.RFC3339Nano), at.UnixMilli(), false)
		docs = append(docs, d)
		put = append(put, d.doc)
	}
	if err := s.PutDocuments(ctx(t), put); err != nil {
		t.Fatal(err)
	}
	sortRegDocs(docs)
	page, err := s.ListDocuments(ctx(t), store.DocumentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Documents) != store.DefaultListLimit || page.Next == "" {
		t.Errorf("limit 0: %d documents, next %q; want %d and a cursor", len(page.Documents), page.Next, store.DefaultListLimit)
	}
	page, err = s.ListDocuments(ctx(t), store.DocumentQuery{Limit: len(docs)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Documents) != len(docs) || page.Next != "" {
		t.Errorf("limit %d: %d documents, next %q; want all and no cursor", len(docs), len(page.Documents), page.Next)
	}
	for _, limit := range []int{-1, store.MaxListLimit + 1} {
		_, err := s.ListDocuments(ctx(t), store.DocumentQuery{Limit: limit})
		wantErr(t, fmt.Sprintf("ListDocuments with limit %d", limit), err, store.ErrInvalid)
	}

	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, cursor := range []string{
		"!!!",
		"abc",
		b64("garbage"),
		b64("c2:1:doc"),
		b64("c1:x:doc"),
		b64("c1:01:doc"),
		b64("c1:1"),
		b64("c1:1:"),
		b64("c1:99999999999999999999:doc"),
		b64("c1:1:" + strings.Repeat("d", store.MaxIDLen+1)),
		strings.Repeat("A", 10_000),
		base64.StdEncoding.EncodeToString([]byte("c1:1:doc")) + "=",
	} {
		_, err := s.ListDocuments(ctx(t), store.DocumentQuery{Cursor: cursor})
		wantErr(t, fmt.Sprintf("ListDocuments with cursor %.40q", cursor), err, store.ErrInvalid)
	}
	// A cursor from one page continues the next, and is the same in any
	// store.
	page, err = s.ListDocuments(ctx(t), store.DocumentQuery{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := store.EncodeCursor(docs[2].ms, docs[2].doc.ID); page.Next != want {
		t.Errorf("Next = %q, want %q", page.Next, want)
	}
}

// testListDocumentsManyTags: a covenant may pack its megabyte with tags, and
// each indexed tag costs an index entry (on Redis a key of its own), so
// only its first store.MaxIndexedTags distinct tags are indexed and listed;
// a listing by a later tag does not find it.
func testListDocumentsManyTags(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	const n = 5000
	tags := make([]string, 0, n+2)
	for i := range n {
		tags = append(tags, fmt.Sprintf("t%05d", n-i)) // not in sorted order
	}
	tags = append(tags, tags[0], tags[1]) // repeats count once
	at := listT0
	d := makeRegDoc(t, newID(t, "tagged"), "iss", "ben", at.Format(time.RFC3339Nano), at.UnixMilli(), false, tags...)
	if err := s.PutDocuments(ctx(t), []store.Document{d.doc}); err != nil {
		t.Fatal(err)
	}
	want := store.IndexedTags(tags)
	if len(want) != store.MaxIndexedTags || want[0] != tags[store.MaxIndexedTags-1] {
		t.Fatalf("IndexedTags: %d tags from %q, want the first %d distinct", len(want), want[0], store.MaxIndexedTags)
	}
	for _, tag := range []string{tags[0], tags[store.MaxIndexedTags-1]} {
		got := listAll(t, s, store.DocumentQuery{Tag: tag}, 10)
		if len(got) != 1 || got[0].ID != d.doc.ID || !slices.Equal(got[0].Tags, want) {
			t.Errorf("listing by indexed tag %s: %d documents (tags %d), want the document with its %d indexed tags", tag, len(got), len(tagsOf(got)), len(want))
		}
	}
	for _, tag := range []string{tags[store.MaxIndexedTags], tags[n-1]} {
		if got := listAll(t, s, store.DocumentQuery{Tag: tag}, 10); len(got) != 0 {
			t.Errorf("listing by tag %s beyond the first %d: %d documents, want none", tag, store.MaxIndexedTags, len(got))
		}
	}
	got := listAll(t, s, store.DocumentQuery{}, 10)
	if len(got) != 1 || !slices.Equal(got[0].Tags, want) {
		t.Errorf("listing all: %d documents with %d tags, want 1 with %d", len(got), len(tagsOf(got)), len(want))
	}
}

// tagsOf returns the tags of the first of docs (nil when none).
func tagsOf(docs []store.Document) []string {
	if len(docs) == 0 {
		return nil
	}
	return docs[0].Tags
}

func testRevocations(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	key := func(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }
	got, err := s.ListRevocations(ctx(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("ListRevocations of an empty store = %v, %v", got, err)
	}
	zone := time.FixedZone("Z2", -7*3600)
	recs := []store.Revocation{
		{PublicKey: key(3), KeyID: "k3", Reason: "compromised", RevokedAt: time.Date(2026, 3, 1, 0, 0, 0, 123456789, zone)},
		{PublicKey: key(1), Reason: "", RevokedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{PublicKey: key(2), KeyID: "k.2_x-y", Reason: strings.Repeat("r", store.MaxRevocationReason), RevokedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, r := range recs {
		if err := s.RevokeKey(ctx(t), r); err != nil {
			t.Fatalf("RevokeKey(%s): %v", r.PublicKey, err)
		}
	}
	before := time.Now()
	if err := s.RevokeKey(ctx(t), store.Revocation{PublicKey: key(4), Reason: "now"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	// A second revocation keeps the first record.
	err = s.RevokeKey(ctx(t), store.Revocation{PublicKey: key(3), Reason: "again", RevokedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	wantErr(t, "RevokeKey again", err, store.ErrExists)

	for name, r := range map[string]store.Revocation{
		"empty key":         {},
		"short key":         {PublicKey: key(5)[:62]},
		"uppercase key":     {PublicKey: strings.ToUpper(key(0xab))},
		"non-hex key":       {PublicKey: strings.Repeat("g", 64)},
		"long reason":       {PublicKey: key(6), Reason: strings.Repeat("r", store.MaxRevocationReason+1)},
		"non-UTF-8":         {PublicKey: key(7), Reason: "\xff"},
		"bad key id":        {PublicKey: key(8), KeyID: "a b"},
		"long key id":       {PublicKey: key(9), KeyID: strings.Repeat("k", store.MaxKeyIDLen+1)},
		"time out of range": {PublicKey: key(10), RevokedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		err := s.RevokeKey(ctx(t), r)
		wantErr(t, "RevokeKey with "+name, err, store.ErrInvalid)
	}

	list, err := s.ListRevocations(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("ListRevocations = %d records, want 4: %+v", len(list), list)
	}
	now := list[3]
	if now.PublicKey != key(4) || now.RevokedAt.Before(before.Add(-time.Second)) || now.RevokedAt.After(after.Add(time.Second)) {
		t.Errorf("revocation with a zero time = %+v, want %s revoked between %v and %v", now, key(4), before, after)
	}
	if now.RevokedAt.Location() != time.UTC {
		t.Errorf("RevokedAt in %v, want UTC", now.RevokedAt.Location())
	}
	want := []store.Revocation{recs[1], recs[2], recs[0], now}
	if d := gocmp.Diff(want, list, jobOpts); d != "" {
		t.Errorf("ListRevocations (-want +got):\n%s", d)
	}

	revoked, err := s.RevokedKeys(ctx(t), []string{key(3), key(0xee), key(1), "", "not hex", strings.ToUpper(key(3)), key(3)})
	if err != nil {
		t.Fatal(err)
	}
	wantMap := map[string]store.Revocation{key(3): recs[0], key(1): recs[1]}
	if d := gocmp.Diff(wantMap, revoked, jobOpts); d != "" {
		t.Errorf("RevokedKeys (-want +got):\n%s", d)
	}
	revoked, err = s.RevokedKeys(ctx(t), nil)
	if err != nil || len(revoked) != 0 {
		t.Errorf("RevokedKeys(nil) = %v, %v", revoked, err)
	}

	// Many keys in one call.
	var many []string
	for i := range 1200 {
		many = append(many, fmt.Sprintf("%064x", i))
	}
	many = append(many, key(2))
	revoked, err = s.RevokedKeys(ctx(t), many)
	if err != nil {
		t.Fatal(err)
	}
	if d := gocmp.Diff(map[string]store.Revocation{key(2): recs[2]}, revoked, jobOpts); d != "" {
		t.Errorf("RevokedKeys of many (-want +got):\n%s", d)
	}
}

func testKeyDirectory(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	pub := func(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }
	seen := time.Date(2026, 4, 1, 12, 0, 0, 987654321, time.FixedZone("W", 7200))
	got, err := s.SigningKeys(ctx(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("SigningKeys of an empty store = %v, %v", got, err)
	}
	if err := s.AdvertiseKeys(ctx(t), nil); err != nil {
		t.Errorf("AdvertiseKeys(nil): %v", err)
	}
	a := store.SigningKey{KeyID: "key-a", PublicKey: pub(1), SeenAt: seen}
	b := store.SigningKey{KeyID: "Key.B_2", PublicKey: pub(2), SeenAt: seen}
	if err := s.AdvertiseKeys(ctx(t), []store.SigningKey{a, b}); err != nil {
		t.Fatal(err)
	}
	want := map[string]store.SigningKey{a.KeyID: a, b.KeyID: b}
	check := func(what string) {
		t.Helper()
		got, err := s.SigningKeys(ctx(t))
		if err != nil {
			t.Fatalf("SigningKeys %s: %v", what, err)
		}
		if d := gocmp.Diff(want, got, jobOpts); d != "" {
			t.Errorf("SigningKeys %s (-want +got):\n%s", what, d)
		}
		for id, k := range got {
			if k.SeenAt.Location() != time.UTC {
				t.Errorf("SigningKeys %s: %s seen in %v, want UTC", what, id, k.SeenAt.Location())
			}
		}
	}
	check("after advertising two")

	// Upsert: the same public key with a new state replaces the record.
	a2 := a
	a2.Retired, a2.SeenAt = true, seen.Add(time.Hour)
	c := store.SigningKey{KeyID: "c", PublicKey: pub(3), SeenAt: seen}
	if err := s.AdvertiseKeys(ctx(t), []store.SigningKey{a2, c}); err != nil {
		t.Fatal(err)
	}
	want[a.KeyID], want[c.KeyID] = a2, c
	check("after an upsert")

	// Another public key under a stored key ID: nothing written.
	d := store.SigningKey{KeyID: "d", PublicKey: pub(4), SeenAt: seen}
	err = s.AdvertiseKeys(ctx(t), []store.SigningKey{d, {KeyID: b.KeyID, PublicKey: pub(9), SeenAt: seen}})
	wantErr(t, "AdvertiseKeys with a conflicting key", err, store.ErrExists)
	check("after a conflict")
	// The same within one call.
	err = s.AdvertiseKeys(ctx(t), []store.SigningKey{d, {KeyID: "e", PublicKey: pub(5)}, {KeyID: "e", PublicKey: pub(6)}})
	wantErr(t, "AdvertiseKeys with a conflict inside the call", err, store.ErrExists)
	check("after a conflict inside a call")

	for name, k := range map[string]store.SigningKey{
		"empty id":      {PublicKey: pub(7)},
		"long id":       {KeyID: strings.Repeat("k", store.MaxKeyIDLen+1), PublicKey: pub(7)},
		"space in id":   {KeyID: "a b", PublicKey: pub(7)},
		"slash in id":   {KeyID: "a/b", PublicKey: pub(7)},
		"non-ASCII id":  {KeyID: "cl\u00e9", PublicKey: pub(7)},
		"empty key":     {KeyID: "f"},
		"uppercase key": {KeyID: "f", PublicKey: strings.ToUpper(pub(0xab))},
		"short key":     {KeyID: "f", PublicKey: pub(7)[:63]},
	} {
		err := s.AdvertiseKeys(ctx(t), []store.SigningKey{d, k})
		wantErr(t, "AdvertiseKeys with "+name, err, store.ErrInvalid)
	}
	check("after invalid calls")

	// A zero SeenAt is the store's clock; a 64-character ID is fine.
	long := store.SigningKey{KeyID: strings.Repeat("L", store.MaxKeyIDLen), PublicKey: pub(8)}
	before := time.Now()
	if err := s.AdvertiseKeys(ctx(t), []store.SigningKey{long}); err != nil {
		t.Fatal(err)
	}
	all, err := s.SigningKeys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if at := all[long.KeyID].SeenAt; at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("SeenAt of a zero time = %v, want about %v", at, before)
	}
	long.SeenAt = all[long.KeyID].SeenAt
	want[long.KeyID] = long
	check("after a zero SeenAt")

	// Racing advertisements of one new key ID with different public keys:
	// exactly one wins, and the directory holds its key.
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			errs[i] = s.AdvertiseKeys(ctx(t), []store.SigningKey{{KeyID: "raced", PublicKey: pub(byte(0x10 + i)), SeenAt: seen}})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both advertised key id raced", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, fmt.Sprintf("racer %d", i), err, store.ErrExists)
		}
	}
	if winner >= 0 {
		want["raced"] = store.SigningKey{KeyID: "raced", PublicKey: pub(byte(0x10 + winner)), SeenAt: seen}
	}
	check("after a race")
}
