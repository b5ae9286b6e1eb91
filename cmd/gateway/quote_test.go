package main

import (
	"os/exec"
	"testing"
)

// The printed examples quote their paths so that they paste into a shell
// whatever the path holds.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"@/tmp/plain", "@/tmp/my data/x.json", `@/tmp/it's "here"/$HOME;x`} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("%q quoted as %s reads back as %q", s, shellQuote(s), out)
		}
	}
}
