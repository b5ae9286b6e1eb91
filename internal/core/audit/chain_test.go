package audit

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func sampleChain(t *testing.T, n int) *Chain {
	t.Helper()
	c := NewChain()
	results := []ChainResult{ChainPermitted, ChainDenied, ChainError, ChainPermitted}
	for i := range n {
		_, err := c.Append(ChainRecord{Timestamp: "2025-01-01T00:00:00.000Z", Action: "read", Resource: "/r",
			CovenantID: "cov", Result: results[i%len(results)]})
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestChainAppendVerify(t *testing.T) {
	c := NewChain()
	if v := c.Verify(); !v.Valid || v.BrokenAt != -1 || v.Entries != 0 {
		t.Errorf("empty chain: %+v", v)
	}
	if _, ok := c.Latest(); ok {
		t.Error("empty chain has a latest entry")
	}
	c = sampleChain(t, 6)
	es := c.Entries()
	hexRe := regexp.MustCompile(`^[0-9a-f]+$`)
	for i, e := range es {
		if len(e.ID) != 32 || len(e.Nonce) != 64 || !hexRe.MatchString(e.ID+e.Nonce) {
			t.Errorf("entry %d: id %q nonce %q", i, e.ID, e.Nonce)
		}
		want := GenesisHash
		if i > 0 {
			want = es[i-1].Hash
		}
		if e.PreviousHash != want || e.ComputeHash() != e.Hash {
			t.Errorf("entry %d not linked", i)
		}
	}
	if es[0].ID == es[1].ID || es[0].Nonce == es[1].Nonce {
		t.Error("ids or nonces repeat")
	}
	if v := c.Verify(); !v.Valid || v.Entries != 6 {
		t.Errorf("verify %+v", v)
	}
	if last, ok := c.Latest(); !ok || last != es[5] {
		t.Errorf("latest %+v", last)
	}
	if s := c.Stats(); s != (ChainStats{Total: 6, Permitted: 3, Denied: 2, Errors: 1}) {
		t.Errorf("stats %+v", s)
	}
	// Entries is a copy.
	es[2].Action = "write"
	if v := c.Verify(); !v.Valid {
		t.Error("modifying Entries' result changed the chain")
	}
	c.entries[3].Resource = "/forged"
	if v := c.Verify(); v.Valid || v.BrokenAt != 3 {
		t.Errorf("tampered chain: %+v", v)
	}
	if v := c.VerifyRange(0, 2); !v.Valid {
		t.Errorf("range before the damage: %+v", v)
	}
	if v := c.VerifyRange(-10, 100); v.Valid || v.BrokenAt != 3 {
		t.Errorf("clamped range: %+v", v)
	}
	if v := c.VerifyRange(4, 5); !v.Valid {
		t.Errorf("range after the damage: %+v", v)
	}
}

func TestChainExportImport(t *testing.T) {
	c := sampleChain(t, 5)
	data := c.Export()
	memberOrder := regexp.MustCompile(`^\[\{"id":"[0-9a-f]{32}","timestamp":"[^"]*","action":"read","resource":"/r","covenantId":"cov","result":"permitted","previousHash":"0{64}","nonce":"[0-9a-f]{64}","hash":"[0-9a-f]{64}"\},`)
	if !memberOrder.Match(data) {
		t.Errorf("export format: %.300s", data)
	}
	back, err := ImportChain(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Export()) != string(data) {
		t.Error("export of the imported chain differs")
	}
	e2 := c.Entries()[2]
	for name, tc := range map[string]struct {
		in string
		at int
	}{
		"edited resource": {strings.Replace(string(data), `"resource":"/r","covenantId":"cov","result":"error"`, `"resource":"/s","covenantId":"cov","result":"error"`, 1), 2},
		"deleted entry":   {strings.Replace(string(data), string(mustExport(t, e2))+",", "", 1), 2},
		"missing member":  {strings.Replace(string(data), `"nonce":"`+e2.Nonce+`",`, "", 1), 2},
		"not an object":   {`[1]`, 0},
	} {
		_, err := ImportChain([]byte(tc.in))
		var ie *IntegrityError
		if !errors.As(err, &ie) || !errors.Is(err, ErrIntegrity) || ie.Index != tc.at {
			t.Errorf("%s: %v, want integrity failure at %d", name, err, tc.at)
		}
	}
	for _, in := range []string{"", "{}", `{"a":1}`, "[", "null"} {
		if _, err := ImportChain([]byte(in)); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("import %q: %v", in, err)
		}
	}
	empty, err := ImportChain([]byte("[]"))
	if err != nil || empty.Stats().Total != 0 {
		t.Errorf("empty import: %v", err)
	}
}

func mustExport(t *testing.T, e ChainEntry) []byte {
	t.Helper()
	c := &Chain{entries: []ChainEntry{e}}
	out := c.Export()
	return out[1 : len(out)-1]
}

func TestChainConcurrentAppend(t *testing.T) {
	c := NewChain()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := c.Append(ChainRecord{Action: "a", Result: ChainPermitted}); err != nil {
					t.Error(err)
				}
			}
			_ = c.Verify()
		}()
	}
	wg.Wait()
	if v := c.Verify(); !v.Valid || v.Entries != 200 {
		t.Errorf("%+v", v)
	}
}
