package ccl_test

import (
	"fmt"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
)

func Example() {
	doc, err := ccl.Parse(`permit read on '/data/**'
deny read on '/data/secret/**' severity critical
permit transfer on '/accounts/*' when amount <= 1000 and currency in ['USD', 'EUR']`)
	if err != nil {
		fmt.Println(err)
		return
	}

	r := ccl.Evaluate(doc, "read", "/data/secret/key", nil)
	fmt.Println(r.Permitted, r.Severity, r.Reason)

	ctx, _ := canon.Parse([]byte(`{"amount": 500, "currency": "USD"}`))
	r = ccl.Evaluate(doc, "transfer", "/accounts/42", ctx.(*canon.Object))
	fmt.Println(r.Permitted, r.MatchedRule.Line)

	r = ccl.Evaluate(doc, "write", "/data/x", nil)
	fmt.Println(r.Permitted, r.Reason)
	// Output:
	// false critical Matched deny rule for read on /data/secret/**
	// true 3
	// false No matching rules found; default deny
}

func ExampleParse_error() {
	_, err := ccl.Parse(`permit file-read on "/data/**"`)
	fmt.Println(err)
	// Output:
	// CCL Syntax Error at 1:13: Expected 'on' after action, but got 'read' (IDENTIFIER)
}

// Check validates a policy as Parse does, without building it.
func ExampleCheck() {
	n, err := ccl.Check("permit read on '/data/**'\nlimit api.call 100 per 1 hours")
	fmt.Println(n, err)
	_, err = ccl.Check("permit read on '/a' when amount <= ")
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// CCL Syntax Error at 1:36: Expected value (string, number, boolean, or array), got ''
}

func ExampleMerge() {
	parent, _ := ccl.Parse("deny read on '/data/**'")
	child, _ := ccl.Parse("permit read on '/data/public'")
	merged := ccl.Merge(parent, child)
	fmt.Println(ccl.Serialize(merged))
	fmt.Println(ccl.Evaluate(merged, "read", "/data/public", nil).Permitted)
	fmt.Println(ccl.ValidateNarrowing(parent, child).Violations[0].Reason)
	// Output:
	// deny read on '/data/**'
	// permit read on '/data/public'
	// true
	// Child permits 'read' on '/data/public' which parent denies
}

func ExampleCheckRateLimit() {
	doc, _ := ccl.Parse("limit api.call 100 per 1 hours")
	start := int64(1_700_000_000_000)
	r := ccl.CheckRateLimit(doc, "api.call", 100, start, start+60_000)
	fmt.Println(r.Exceeded, r.Remaining)
	r = ccl.CheckRateLimit(doc, "api.call", 100, start, start+3_600_001)
	fmt.Println(r.Exceeded, r.Remaining)
	// Output:
	// true 0
	// false 100
}
