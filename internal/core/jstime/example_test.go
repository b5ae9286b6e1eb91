package jstime_test

import (
	"fmt"
	"time"

	"github.com/stele-go/stele/internal/core/jstime"
)

func ExampleFormat() {
	t := time.Date(2025, 6, 15, 10, 30, 0, 123_456_789, time.FixedZone("CEST", 2*3600))
	fmt.Println(jstime.Format(t))
	// Output:
	// 2025-06-15T08:30:00.123Z
}

func ExampleParse() {
	for _, s := range []string{
		"2025-01-01T00:00:00+02:00",
		"2025-01-01T00:00:00.123456Z",
		"2025-01-01",
		"2025-01-01T12:00:00", // no offset: UTC by our decision
		"2025-01-01T24:00:00Z",
		"2025-13-01T00:00:00Z",
		"Jan 1 2025",
	} {
		t, ok := jstime.Parse(s)
		if !ok {
			fmt.Printf("%-30s invalid\n", s)
			continue
		}
		fmt.Printf("%-30s %s\n", s, jstime.Format(t))
	}
	// Output:
	// 2025-01-01T00:00:00+02:00      2024-12-31T22:00:00.000Z
	// 2025-01-01T00:00:00.123456Z    2025-01-01T00:00:00.123Z
	// 2025-01-01                     2025-01-01T00:00:00.000Z
	// 2025-01-01T12:00:00            2025-01-01T12:00:00.000Z
	// 2025-01-01T24:00:00Z           2025-01-02T00:00:00.000Z
	// 2025-13-01T00:00:00Z           invalid
	// Jan 1 2025                     invalid
}

// An expiry check as the reference makes it: an invalid date makes every
// comparison false, so the document counts as expired.
func ExampleParse_expiry() {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	notExpired := func(expiresAt string) bool {
		t, ok := jstime.Parse(expiresAt)
		return ok && now.Before(t)
	}
	fmt.Println(notExpired("2026-01-01T00:00:00.000Z"))
	fmt.Println(notExpired("2025-01-01T00:00:00.000Z"))
	fmt.Println(notExpired("not a date"))
	// Output:
	// true
	// false
	// false
}
