package redisstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/storetest"
)

// TestPickIndex checks that a listing walks the smallest index its filters
// name, and idx:created only without filters.
func TestPickIndex(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, newClient(t), storetest.Config{})
	var docs []store.Document
	for i := range 40 {
		d := store.Document{ID: fmt.Sprintf("d%02d", i), JSON: []byte(`{}`), IssuerID: "big", BeneficiaryID: "b",
			CreatedAt: "2026-02-19T01:38:56.342Z", HasChain: i < 30}
		if i%10 == 0 {
			d.Tags = []string{"rare"}
		}
		docs = append(docs, d)
	}
	if err := s.PutDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	for _, tc := range []struct {
		q      store.DocumentQuery
		walk   string
		others []string
	}{
		{store.DocumentQuery{}, "idx:created", nil},
		{store.DocumentQuery{Issuer: "big"}, "idx:issuer:big", nil},
		{store.DocumentQuery{Issuer: "big", Tag: "rare"}, "idx:tag:rare", []string{"idx:issuer:big"}},
		{store.DocumentQuery{Issuer: "big", HasChain: &no}, "idx:chain:0", []string{"idx:issuer:big"}},
		{store.DocumentQuery{Issuer: "big", Beneficiary: "b", HasChain: &yes, Tag: "rare"}, "idx:tag:rare",
			[]string{"idx:issuer:big", "idx:beneficiary:b", "idx:chain:1"}},
		{store.DocumentQuery{Issuer: "big", Beneficiary: "nobody"}, "idx:beneficiary:nobody", []string{"idx:issuer:big"}},
	} {
		walk, others, err := s.pickIndex(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		p := s.opts.prefix
		var wantOthers []string
		for _, o := range tc.others {
			wantOthers = append(wantOthers, p+o)
		}
		if walk != p+tc.walk || !cmp.Equal(wantOthers, others, cmpopts.EquateEmpty()) {
			t.Errorf("pickIndex(%+v) = %s, %v; want %s, %v", tc.q, walk, others, p+tc.walk, wantOthers)
		}
	}
}

// TestDocumentFields checks how listings read the indexed fields from a
// document's JSON: as package covenant's accessors do, with members of the
// wrong type counting as absent.
func TestDocumentFields(t *testing.T) {
	for _, tc := range []struct {
		json string
		want store.Document
	}{
		{`{"issuer":{"id":"i"},"beneficiary":{"id":"b"},"createdAt":"2026-01-01T00:00:00Z","chain":{"parentId":"p"},"metadata":{"tags":["y","x","y"]}}`,
			store.Document{IssuerID: "i", BeneficiaryID: "b", CreatedAt: "2026-01-01T00:00:00Z", HasChain: true, Tags: []string{"x", "y"}}},
		{`{"issuer":{"id":7},"beneficiary":"b","createdAt":5,"chain":null,"metadata":{"tags":["x",1]}}`, store.Document{}},
		{`{"issuer":{"id":"\u00e9\n"},"chain":[],"metadata":{"tags":[]}}`, store.Document{IssuerID: "\u00e9\n"}},
		{`{"metadata":{"tags":"x"},"Issuer":{"id":"i"}}`, store.Document{}},
		{`not json`, store.Document{}},
	} {
		got := documentFields("id", []byte(tc.json))
		tc.want.ID, tc.want.JSON = "id", []byte(tc.json)
		if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("documentFields(%s) (-want +got):\n%s", tc.json, d)
		}
	}
}
