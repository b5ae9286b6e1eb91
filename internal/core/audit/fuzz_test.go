package audit

import (
	"bytes"
	"testing"
)

// FuzzParseEntry: an accepted entry re-encodes to a fixed point with the same
// hash.
func FuzzParseEntry(f *testing.F) {
	msg := "handler failed"
	seeds := []Entry{
		{Index: 0, Timestamp: "2025-01-01T00:00:00.000Z", Action: "read", Resource: "/data/x", Context: ctxOf("a", []any{1.0, nil, "\u2028"}),
			Result: Result{Permitted: true, Reason: "Matched permit rule for read on /data/**", Severity: "high",
				MatchedRule: &Rule{Type: "permit", Action: "read", Resource: "/data/**", Severity: "high", Line: 1}},
			Outcome: Executed, PreviousHash: GenesisHash},
		{Index: 7, Action: "w", Result: Result{Reason: "No matching rules found; default deny"}, Outcome: Denied, Error: &msg, PreviousHash: GenesisHash},
	}
	for _, e := range seeds {
		e = e.Seal()
		f.Add(e.AppendJSON(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		out := e.AppendJSON(nil)
		again, err := ParseEntry(out)
		if err != nil {
			t.Fatalf("re-encoded entry rejected: %v\n%s", err, out)
		}
		if !bytes.Equal(again.AppendJSON(nil), out) {
			t.Fatalf("encoding is not a fixed point: %s", out)
		}
		if again.ComputeHash() != e.ComputeHash() {
			t.Fatal("hash changed across re-encoding")
		}
	})
}

// FuzzImportChain: an accepted chain exports to a fixed point and verifies.
func FuzzImportChain(f *testing.F) {
	c := NewChain()
	for range 3 {
		if _, err := c.Append(ChainRecord{Timestamp: "t", Action: "a", Resource: "r", CovenantID: "c", Result: ChainDenied}); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(c.Export())
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ImportChain(data)
		if err != nil {
			return
		}
		if v := c.Verify(); !v.Valid {
			t.Fatalf("imported chain does not verify: %+v", v)
		}
		out := c.Export()
		back, err := ImportChain(out)
		if err != nil {
			t.Fatalf("export rejected: %v", err)
		}
		if !bytes.Equal(back.Export(), out) {
			t.Fatal("export is not a fixed point")
		}
	})
}
