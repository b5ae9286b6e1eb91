package audit

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
)

// The worked example of PROTOCOL.md §6.2.
const (
	specHash0 = "a9e1a37d8b7a9bfffd65d75496d302937d9f8b266844db96f579d8219dbd2ddb"
	specHash1 = "f6230f3ac41ab2eb0263667883fcabc82a7c33227def05d825d466bbd12e9cf1"
	specRoot  = "f2c6bbbc343596e3500bbec24b9994d006aae43f37a7363fe46e64b6706d8f85"
)

func TestSpecEntryHashes(t *testing.T) {
	e0 := Entry{
		Index: 0, Timestamp: "2025-01-01T00:00:00.000Z", Action: "read", Resource: "/data/x",
		Context: canon.NewObject(0),
		Result:  Result{Permitted: true, Reason: "Matched permit rule for read on /data/**", Severity: "high"},
		Outcome: Executed, PreviousHash: GenesisHash,
	}
	if got := e0.ComputeHash(); got != specHash0 {
		t.Fatalf("entry 0 hash %s, want %s", got, specHash0)
	}
	e0 = e0.Seal()
	e1 := Entry{
		Index: 1, Timestamp: "2025-01-01T00:00:01.000Z", Action: "write", Resource: "/data/x",
		Result:  Result{Permitted: false, Reason: "No matching rules found; default deny"},
		Outcome: Denied, PreviousHash: e0.Hash,
	}
	if got := e1.ComputeHash(); got != specHash1 {
		t.Fatalf("entry 1 hash %s, want %s (a nil context hashes as {})", got, specHash1)
	}
	e1 = e1.Seal()
	if got := MerkleRoot([]string{e0.Hash, e1.Hash}); got != specRoot {
		t.Errorf("root %s, want %s", got, specRoot)
	}
	if err := VerifyIntegrity([]Entry{e0, e1}); err != nil {
		t.Errorf("spec log: %v", err)
	}
	// The matched rule is not hashed; an error message is.
	e1.Result.MatchedRule = &Rule{Type: "deny", Action: "write", Resource: "**", Severity: "high", Line: 3}
	if e1.ComputeHash() != specHash1 {
		t.Error("matchedRule changed the hash")
	}
	msg := ""
	e1.Error = &msg
	if e1.ComputeHash() == specHash1 {
		t.Error("an empty error message is not hashed")
	}
}

// TestSpecViaMonitor reproduces the §6.2 example end to end.
func TestSpecViaMonitor(t *testing.T) {
	clk := newClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	m := mustMonitor(t, "cov", "permit read on '/data/**'", WithClock(clk.Now))
	ctx := context.Background()
	if _, err := m.Evaluate(ctx, "read", "/data/x", nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	_, err := m.Evaluate(ctx, "write", "/data/x", canon.NewObject(0))
	var de *MonitorDeniedError
	if !errors.As(err, &de) || !errors.Is(err, ErrDenied) {
		t.Fatalf("write: %v, want a MonitorDeniedError", err)
	}
	if de.Error() != "Action 'write' on resource '/data/x' denied: no matching permit rule" || de.MatchedRule != nil {
		t.Errorf("denial %q rule %v", de.Error(), de.MatchedRule)
	}
	snap, err := m.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Count != 2 || snap.Entries[0].Hash != specHash0 || snap.Entries[1].Hash != specHash1 || snap.MerkleRoot != specRoot {
		t.Errorf("snapshot %d entries, hashes %s %s root %s", snap.Count, snap.Entries[0].Hash, snap.Entries[1].Hash, snap.MerkleRoot)
	}
	if de.Entry.Hash != specHash1 || de.Entry.Outcome != Denied {
		t.Errorf("error carries entry %+v", de.Entry)
	}
}

func TestEntryJSONRoundTrip(t *testing.T) {
	c := canon.NewObject(2)
	c.Set("user", "ana")
	c.Set("n", 1.5)
	msg := "disk full"
	entries := []Entry{
		{Index: 3, Timestamp: "t", Action: "a", Resource: "/r", Context: c, Outcome: Executed,
			Result: Result{Permitted: true, Reason: "Matched permit rule for a on /r", Severity: "low",
				MatchedRule: &Rule{Type: "permit", Action: "a", Resource: "/r", Severity: "low", Line: 2}},
			Error: &msg, PreviousHash: strings.Repeat("1", 64)},
		{Index: 0, Timestamp: "t", Action: "b", Resource: "", Outcome: Denied,
			Result: Result{Reason: "No matching rules found; default deny"}, PreviousHash: GenesisHash},
	}
	for _, e := range entries {
		e = e.Seal()
		data := e.AppendJSON(nil)
		back, err := ParseEntry(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if again := back.AppendJSON(nil); !bytes.Equal(again, data) {
			t.Errorf("round trip\n got %s\nwant %s", again, data)
		}
		if back.ComputeHash() != e.Hash || back.Hash != e.Hash {
			t.Errorf("hash changed across JSON: %s", data)
		}
		if (back.Error == nil) != (e.Error == nil) || (back.Result.MatchedRule == nil) != (e.Result.MatchedRule == nil) {
			t.Errorf("optional members lost: %s", data)
		}
	}
	want := `{"index":3,"timestamp":"t","action":"a","resource":"/r","context":{"user":"ana","n":1.5},"result":{"permitted":true,"matchedRule":{"type":"permit","action":"a","resource":"/r","severity":"low","line":2},"reason":"Matched permit rule for a on /r","severity":"low"},"outcome":"EXECUTED","previousHash":"` + strings.Repeat("1", 64) + `","hash":"`
	sealed := entries[0].Seal()
	if got := string(sealed.AppendJSON(nil)); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, `","error":"disk full"}`) {
		t.Errorf("JSON form\n got %s\nwant prefix %s", got, want)
	}
}

func TestParseEntryErrors(t *testing.T) {
	good := Entry{Index: 1, Timestamp: "t", Action: "a", Resource: "r", Outcome: Executed,
		Result: Result{Permitted: true, Reason: "x", MatchedRule: &Rule{Type: "permit", Line: 1}}, PreviousHash: GenesisHash}.Seal()
	valid := string(good.AppendJSON(nil))
	mut := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("fixture lacks %s", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	for name, in := range map[string]string{
		"not json":        "{",
		"array":           "[]",
		"index negative":  mut(`"index":1`, `"index":-1`),
		"index fraction":  mut(`"index":1`, `"index":1.5`),
		"index string":    mut(`"index":1`, `"index":"1"`),
		"no action":       mut(`"action":"a",`, ``),
		"context array":   mut(`"context":{}`, `"context":[]`),
		"permitted 1":     mut(`"permitted":true`, `"permitted":1`),
		"reason number":   mut(`"reason":"x"`, `"reason":5`),
		"rule string":     mut(`"matchedRule":{`, `"matchedRule":"x","y":{`),
		"rule line":       mut(`"line":1`, `"line":"1"`),
		"error null":      strings.TrimSuffix(valid, "}") + `,"error":null}`,
		"outcome missing": mut(`"outcome":"EXECUTED",`, ``),
	} {
		if _, err := ParseEntry([]byte(in)); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: err %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := ParseEntry([]byte(valid)); err != nil {
		t.Errorf("valid fixture: %v", err)
	}
}
