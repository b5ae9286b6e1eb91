package audit

import (
	"math"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/core/ccl"
)

// TestLimitOfHugeNumbers: a count or period too long for a double parses to
// +Inf (the reference's parseInt); LimitOf gives them as the largest finite
// double, which every store accepts and which decides as Infinity does.
func TestLimitOfHugeNumbers(t *testing.T) {
	huge := strings.Repeat("9", 400)
	doc, err := ccl.Parse("limit a " + huge + " per " + huge + " days\nlimit b 3 per 2 minutes")
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(doc.Limits[0].Count, 1) || !math.IsInf(doc.Limits[0].PeriodSeconds, 1) {
		t.Fatalf("parse: %+v", doc.Limits[0])
	}
	l := LimitOf(doc.Limits[0])
	if l.Count != math.MaxFloat64 || l.PeriodSeconds != math.MaxFloat64 {
		t.Errorf("LimitOf = %+v, want both math.MaxFloat64", l)
	}
	if WindowExpired(0, l.PeriodSeconds, math.MaxInt64) || StatusOf(math.MaxInt64, l.Count).Exceeded {
		t.Error("an infinite window ended or an infinite count was reached")
	}
	if got := LimitOf(doc.Limits[1]); got != (Limit{Action: "b", Count: 3, PeriodSeconds: 120}) {
		t.Errorf("LimitOf(finite) = %+v", got)
	}
}
