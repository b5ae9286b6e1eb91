package jstime

import (
	"encoding/json"
	"os"
	"testing"
)

// TestV8Recorded replays date strings whose JavaScript results were recorded
// under Node 20 with TZ=UTC (testdata/v8-date-cases.json): a sample of
// ISO-like strings, mutated ones and legacy forms, one per shape of digits.
// Where Parse accepts a string it must give Node's instant; where Node finds
// a string invalid, Parse must too; the legacy forms Node alone accepts are
// marked and must stay rejected.
func TestV8Recorded(t *testing.T) {
	raw, err := os.ReadFile("testdata/v8-date-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			In   string `json:"in"`
			JS   string `json:"js"`
			Ours string `json:"ours"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, c := range file.Cases {
		got, ok := Parse(c.In)
		switch {
		case c.Ours == "rejected":
			counts["rejected"]++
			if ok {
				t.Errorf("Parse(%q) = %s; this legacy form should be rejected", c.In, Format(got))
			}
			if c.JS == "invalid" {
				t.Errorf("case %q is marked rejected but JavaScript rejects it too", c.In)
			}
		case c.JS == "invalid":
			counts["invalid"]++
			if ok {
				t.Errorf("Parse(%q) = %s, JavaScript gives an invalid Date", c.In, Format(got))
			}
		default:
			counts["valid"]++
			if !ok {
				t.Errorf("Parse(%q) invalid, JavaScript gives %s", c.In, c.JS)
			} else if s := Format(got); s != c.JS {
				t.Errorf("Parse(%q) = %s, JavaScript gives %s", c.In, s, c.JS)
			}
		}
	}
	if counts["valid"] < 1000 || counts["invalid"] < 500 || counts["rejected"] < 100 {
		t.Fatalf("too few recorded cases: %v", counts)
	}
}
