package covenant

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

// copyOptions returns a copy of opts that shares nothing Build copies
// (obligations, the typed pointers, tags), with its own nonce reader.
func copyOptions(opts BuildOptions, nonce byte) BuildOptions {
	c := opts
	c.Obligations = append([]Obligation(nil), opts.Obligations...)
	if opts.Chain != nil {
		x := *opts.Chain
		c.Chain = &x
	}
	if opts.Enforcement != nil {
		x := *opts.Enforcement
		c.Enforcement = &x
	}
	if opts.Proof != nil {
		x := *opts.Proof
		c.Proof = &x
	}
	if opts.Revocation != nil {
		x := *opts.Revocation
		c.Revocation = &x
	}
	if opts.Metadata != nil {
		x := *opts.Metadata
		if x.Tags != nil {
			x.Tags = append([]string{}, x.Tags...)
		}
		c.Metadata = &x
	}
	c.Rand = bytes.NewReader(bytes.Repeat([]byte{nonce}, 32))
	return c
}

// stripExtra removes the Extra members of opts, which make Build materialise
// the object itself.
func stripExtra(opts *BuildOptions) {
	opts.Issuer.Extra, opts.Beneficiary.Extra = nil, nil
	for i := range opts.Obligations {
		opts.Obligations[i].Extra = nil
	}
	if c := opts.Chain; c != nil {
		c.Extra = nil
	}
	if e := opts.Enforcement; e != nil {
		e.Extra = nil
	}
	if p := opts.Proof; p != nil {
		p.Extra = nil
	}
	if r := opts.Revocation; r != nil {
		r.Extra = nil
	}
	if m := opts.Metadata; m != nil {
		m.Extra = nil
	}
}

// scramble overwrites, in place, everything of opts that Build must have
// copied.
func scramble(opts *BuildOptions) {
	for i := range opts.Obligations {
		opts.Obligations[i] = Obligation{ID: "changed", Description: "changed", Action: "changed"}
	}
	if c := opts.Chain; c != nil {
		*c = ChainRef{ParentID: "changed", Relation: "changed", Depth: 7}
	}
	if e := opts.Enforcement; e != nil {
		*e = Enforcement{Type: "bond", Description: "changed"}
	}
	if p := opts.Proof; p != nil {
		*p = Proof{Type: "tee", Description: "changed"}
	}
	if r := opts.Revocation; r != nil {
		*r = Revocation{Method: "changed"}
	}
	if m := opts.Metadata; m != nil {
		for i := range m.Tags {
			m.Tags[i] = "changed"
		}
		m.Name, m.Tags = "changed", append(m.Tags, "added")
	}
}

// TestBuildLazyObject holds the object a built document materialises on first
// use to the one it materialises at once, for random options, after the
// caller has overwritten its options; and the values the accessors read
// before materialising to the materialised object's.
func TestBuildLazyObject(t *testing.T) {
	issuer, beneficiary := seedKey(t, 1), seedKey(t, 2)
	r := rand.New(rand.NewPCG(5, 6))
	lazy := 0
	for i := range 1000 {
		opts := randomBuildOptions(t, r, issuer, beneficiary)
		nonce := byte(i)
		if i%2 == 0 {
			stripExtra(&opts)
		}
		opts.Obligations = append(opts.Obligations, make([]Obligation, r.IntN(2)*arenaObligations)...)
		if m := opts.Metadata; m != nil && r.IntN(2) == 0 {
			m.Tags = append(m.Tags, strings.Split("a b c d e f g h i", " ")[:r.IntN(10)]...)
		}
		eager := mustBuild(t, copyOptions(opts, nonce), issuer)
		eagerObj := eager.Object() // materialised now
		opts = copyOptions(opts, nonce)
		d := mustBuild(t, opts, issuer)
		if d.built != nil {
			lazy++
		}
		scramble(&opts)

		// Read before materialising.
		got := [...]string{d.ID(), d.Signature(), d.Nonce(), d.CreatedAt(), d.Constraints(), d.Version(),
			d.ExpiresAt(), d.ActivatesAt()}
		size := d.Size()
		if d.built != nil && d.built.obj != nil {
			t.Fatalf("case %d: object materialised by the accessors", i)
		}

		o := d.Object()
		js := canon.AppendJSON(nil, o)
		if want := canon.AppendJSON(nil, eagerObj); !bytes.Equal(js, want) {
			t.Fatalf("case %d: materialised object\n%s\nwant\n%s", i, js, want)
		}
		var want [len(got)]string
		for j, k := range [...]string{"id", "signature", "nonce", "createdAt", "constraints", "version", "expiresAt", "activatesAt"} {
			want[j], _ = o.String(k)
		}
		if got != want {
			t.Fatalf("case %d: accessors read %q before materialising, want %q", i, got, want)
		}
		if size != len(js) {
			t.Fatalf("case %d: Size %d before materialising, JSON has %d bytes", i, size, len(js))
		}
		if d.ComputeID() != d.ID() {
			t.Fatalf("case %d: the options changed the document after Build", i)
		}
		if d.Object() != o {
			t.Fatalf("case %d: object materialised twice", i)
		}
	}
	if lazy < 50 {
		t.Errorf("only %d of 1000 documents were built lazily", lazy)
	}
}

// TestBuildLazyMemberOrder: a document built without Extra members (so
// materialised lazily) writes its members in the reference's order.
func TestBuildLazyMemberOrder(t *testing.T) {
	opts, key := basicOptions(t)
	opts.Obligations = []Obligation{{ID: "o1", Description: "d", Action: "a"}}
	opts.Chain = &ChainRef{ParentID: "p", Relation: "restricts", Depth: 2}
	opts.Enforcement = &Enforcement{Type: "monitor"}
	opts.Proof = &Proof{Type: "tee"}
	opts.Revocation = &Revocation{Method: "crl"}
	opts.Metadata = &Metadata{Tags: []string{"t"}}
	opts.ExpiresAt, opts.ActivatesAt = "e", "a"
	d := mustBuild(t, opts, key)
	if d.built == nil {
		t.Fatal("document materialised by Build")
	}
	var got []string
	for _, m := range d.Object().Members() {
		got = append(got, m.Key)
	}
	want := "id version issuer beneficiary constraints nonce createdAt signature obligations chain enforcement proof revocation metadata expiresAt activatesAt"
	if strings.Join(got, " ") != want {
		t.Errorf("members %v\nwant %s", got, want)
	}
}

// TestBuildLazyConcurrent: concurrent first uses of a built document
// materialise one object and agree (run with -race).
func TestBuildLazyConcurrent(t *testing.T) {
	k := benchKeys(t, 2)
	for range 20 {
		d := mustBuild(t, benchOptions(t, k[0], k[1], 0), k[0])
		if d.built == nil {
			t.Fatal("document materialised by Build")
		}
		const n = 8
		var (
			start sync.WaitGroup
			done  sync.WaitGroup
			objs  [n]*canon.Object
			jsons [n][]byte
			valid [n]bool
		)
		start.Add(1)
		for g := range n {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				switch g % 4 {
				case 0:
					jsons[g], _ = d.MarshalJSON()
				case 1:
					valid[g] = Verify(d).Valid
				case 2:
					_ = d.Issuer()
				case 3:
					_, _ = Countersign(d, k[1], RoleAuditor)
				}
				objs[g] = d.Object()
				if jsons[g] == nil {
					jsons[g] = d.AppendJSON(nil)
				}
			}()
		}
		start.Done()
		done.Wait()
		for g := range n {
			if objs[g] != objs[0] || !bytes.Equal(jsons[g], jsons[0]) {
				t.Fatalf("goroutine %d saw another object", g)
			}
			if g%4 == 1 && !valid[g] {
				t.Fatalf("goroutine %d: invalid", g)
			}
		}
	}
}
