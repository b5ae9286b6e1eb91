package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
)

func runParse(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet(e, "parse", "FILE")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return exitUsage
	}
	src, err := readInput(e, flags.Arg(0))
	if err != nil {
		return fail(e, "parse", exitUsage, "", "%v", err)
	}
	doc, err := ccl.Parse(string(src))
	if err != nil {
		return cclError(e, "parse", flags.Arg(0), err)
	}
	list := make([]any, len(doc.Statements))
	for i, s := range doc.Statements {
		list[i] = s.JSONValue()
	}
	out := canon.AppendIndent(nil, list)
	fmt.Fprintln(e.stdout, string(out))
	return exitOK
}

// cclError reports a CCL syntax error with its position and exits 1.
func cclError(e *env, cmd, file string, err error) int {
	var se *ccl.SyntaxError
	if errors.As(err, &se) {
		return fail(e, cmd, exitInvalid, "each statement is: permit|deny|require ACTION on 'RESOURCE' [when COND] [severity LEVEL], or limit ACTION N per M UNIT",
			"%s:%d:%d: %v", file, se.Line, se.Column, err)
	}
	return fail(e, cmd, exitInvalid, "", "%s: %v", file, err)
}

func runEval(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet(e, "eval", "--constraints FILE --action A --resource R [--context JSON] [--json]")
	consFile := flags.String("constraints", "", "file with CCL constraints (- for standard input)")
	action := flags.String("action", "", "action to evaluate, e.g. file.read")
	resource := flags.String("resource", "", "resource to evaluate, e.g. /data/report.csv")
	ctxJSON := flags.String("context", "", "evaluation context as a JSON object")
	asJSON := flags.Bool("json", false, "print the decision as JSON")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	// --resource is required like --action, but may be given empty
	// (--resource ''), as POST /v1/evaluate takes a missing resource: left
	// out, it was evaluated as "" and reported a default deny (exit 1).
	resourceSet := false
	flags.Visit(func(f *flag.Flag) { resourceSet = resourceSet || f.Name == "resource" })
	switch {
	case flags.NArg() != 0:
		return fail(e, "eval", exitUsage, "", "unexpected argument %q", flags.Arg(0))
	case *consFile == "":
		return fail(e, "eval", exitUsage, "pass --constraints FILE", "missing --constraints")
	case *action == "":
		return fail(e, "eval", exitUsage, "pass --action, e.g. --action file.read", "missing --action")
	case !resourceSet:
		return fail(e, "eval", exitUsage, "pass --resource, e.g. --resource /data/report.csv (--resource '' for none)", "missing --resource")
	}
	var evalCtx *canon.Object
	if *ctxJSON != "" {
		v, err := canon.ParseLimits([]byte(*ctxJSON), canon.Limits{MaxBytes: 1 << 20, MaxDepth: 64})
		if err != nil {
			return fail(e, "eval", exitUsage, `--context takes a JSON object, e.g. '{"role":"admin"}'`, "--context: %v", err)
		}
		obj, ok := v.(*canon.Object)
		if !ok || obj == nil {
			return fail(e, "eval", exitUsage, `--context takes a JSON object, e.g. '{"role":"admin"}'`, "--context: not a JSON object")
		}
		evalCtx = obj
	}
	src, err := readInput(e, *consFile)
	if err != nil {
		return fail(e, "eval", exitUsage, "", "%v", err)
	}
	doc, err := ccl.Parse(string(src))
	if err != nil {
		return cclError(e, "eval", *consFile, err)
	}
	r := ccl.Evaluate(doc, *action, *resource, evalCtx)
	if *asJSON {
		fmt.Fprintln(e.stdout, string(canon.AppendJSON(nil, decisionValue(r))))
	} else {
		verdict := "denied"
		if r.Permitted {
			verdict = "permitted"
		}
		line := ""
		if r.MatchedRule != nil {
			line = fmt.Sprintf(" (line %d, severity %s)", r.MatchedRule.Line, r.Severity)
		}
		fmt.Fprintf(e.stdout, "%s: %s%s\n", verdict, r.Reason, line)
	}
	if !r.Permitted {
		return exitInvalid
	}
	return exitOK
}

// decisionValue renders an evaluation result as the CLI's JSON shape.
func decisionValue(r ccl.Result) *canon.Object {
	o := canon.NewObject(4)
	o.Set("permitted", r.Permitted)
	if r.Severity != "" {
		o.Set("severity", r.Severity)
	} else {
		o.Set("severity", nil)
	}
	o.Set("reason", r.Reason)
	if m := r.MatchedRule; m != nil {
		mr := canon.NewObject(4)
		mr.Set("type", string(m.Type))
		mr.Set("line", float64(m.Line))
		mr.Set("action", m.Action)
		mr.Set("resource", m.Resource)
		o.Set("matchedRule", mr)
	} else {
		o.Set("matchedRule", nil)
	}
	return o
}
