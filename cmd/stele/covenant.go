package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/jobs"
)

func runBuild(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet(e, "build", "--key FILE --issuer-id ID --beneficiary-id ID --beneficiary-key HEX --constraints FILE [flags]")
	keyFile := flags.String("key", "", "issuer key file written by 'stele keygen'")
	issuerID := flags.String("issuer-id", "", "issuer identifier")
	issuerName := flags.String("issuer-name", "", "issuer display name (optional)")
	benID := flags.String("beneficiary-id", "", "beneficiary identifier")
	benKey := flags.String("beneficiary-key", "", "beneficiary public key (64 hex digits)")
	consFile := flags.String("constraints", "", "file with the CCL constraints (- for standard input)")
	expires := flags.String("expires", "", "expiry instant (RFC 3339)")
	activates := flags.String("activates", "", "activation instant (RFC 3339)")
	metadata := flags.String("metadata", "", `metadata as a JSON object, e.g. '{"name":"demo","tags":["x"]}'`)
	parentFile := flags.String("parent", "", "parent covenant file; makes this covenant its child")
	relation := flags.String("relation", "", "relation to the parent: delegates, restricts or extends")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	const cmd = "build"
	if flags.NArg() != 0 {
		return fail(e, cmd, exitUsage, "", "unexpected argument %q", flags.Arg(0))
	}
	for _, req := range []struct{ name, val string }{
		{"key", *keyFile}, {"issuer-id", *issuerID}, {"beneficiary-id", *benID},
		{"beneficiary-key", *benKey}, {"constraints", *consFile},
	} {
		if req.val == "" {
			return fail(e, cmd, exitUsage, "run 'stele build -h' for every flag", "missing --%s", req.name)
		}
	}
	if _, err := keys.ParsePublicKeyHex(*benKey); err != nil {
		return fail(e, cmd, exitUsage, "a public key is 64 hex digits, as 'stele keygen' prints", "--beneficiary-key: %v", err)
	}
	key, err := loadKey(*keyFile)
	if err != nil {
		return fail(e, cmd, exitUsage, keyHint(err), "--key: %v", err)
	}
	src, err := readInput(e, *consFile)
	if err != nil {
		return fail(e, cmd, exitUsage, "", "--constraints: %v", err)
	}
	opts := covenant.BuildOptions{
		Issuer:      covenant.Party{ID: *issuerID, PublicKey: key.PublicHex(), Role: covenant.RoleIssuer, Name: *issuerName},
		Beneficiary: covenant.Party{ID: *benID, PublicKey: strings.ToLower(*benKey), Role: covenant.RoleBeneficiary},
		Constraints: string(src),
	}
	for _, t := range []struct {
		flag string
		val  string
		dst  *string
	}{{"expires", *expires, &opts.ExpiresAt}, {"activates", *activates, &opts.ActivatesAt}} {
		if t.val == "" {
			continue
		}
		at, err := jobs.ParseAt(t.val)
		if err != nil {
			return fail(e, cmd, exitUsage, "use RFC 3339, e.g. 2030-01-01T00:00:00Z", "--%s: %v", t.flag, err)
		}
		*t.dst = jstime.Format(at)
	}
	if *metadata != "" {
		obj, err := parseObjectFlag(*metadata)
		if err != nil {
			return fail(e, cmd, exitUsage, `--metadata takes a JSON object, e.g. '{"name":"demo"}'`, "--metadata: %v", err)
		}
		opts.Metadata = &covenant.Metadata{Extra: obj}
	}
	if (*parentFile == "") != (*relation == "") {
		return fail(e, cmd, exitUsage, "pass --parent and --relation together", "--parent and --relation go together")
	}
	if *parentFile != "" {
		parent, code := readDocument(e, cmd, *parentFile)
		if parent == nil {
			return code
		}
		depth := 1.0
		if pc, ok := parent.Chain(); ok {
			depth = pc.Depth + 1
		}
		opts.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: *relation, Depth: depth}
	}
	doc, err := covenant.Build(opts, key)
	if err != nil {
		var be *covenant.BuildError
		if errors.As(err, &be) {
			return fail(e, cmd, exitInvalid, buildHint(be.Field), "%s: %s", be.Field, be.Message)
		}
		return fail(e, cmd, exitInvalid, "", "%v", err)
	}
	fmt.Fprintln(e.stdout, string(canon.AppendIndent(nil, doc.Object())))
	return exitOK
}

// buildHint says which flag sets a field that Build refused.
func buildHint(field string) string {
	switch {
	case field == "constraints":
		return "fix the CCL in the --constraints file; 'stele parse FILE' shows the error's position"
	case strings.HasPrefix(field, "chain"):
		return "check --parent and --relation"
	case field == "document":
		return "a covenant may be at most 1 MiB; shorten the constraints or metadata"
	default:
		return ""
	}
}

func parseObjectFlag(s string) (*canon.Object, error) {
	v, err := canon.ParseLimits([]byte(s), canon.Limits{MaxBytes: 1 << 20, MaxDepth: 64})
	if err != nil {
		return nil, err
	}
	obj, ok := v.(*canon.Object)
	if !ok || obj == nil {
		return nil, errors.New("not a JSON object")
	}
	return obj, nil
}

// readDocument reads and parses a covenant; on failure it reports and returns
// the exit code (2 for an unreadable file, 1 for an invalid document).
func readDocument(e *env, cmd, path string) (*covenant.Document, int) {
	b, err := readInput(e, path)
	if err != nil {
		return nil, fail(e, cmd, exitUsage, "", "%v", err)
	}
	doc, err := covenant.Parse(b)
	if err != nil {
		return nil, fail(e, cmd, exitInvalid, "", "%s: %v", path, err)
	}
	return doc, exitOK
}

func runCountersign(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet(e, "countersign", "--key FILE --role ROLE DOC")
	keyFile := flags.String("key", "", "countersigner key file")
	role := flags.String("role", "", "countersigner role, e.g. auditor, operator, regulator")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	const cmd = "countersign"
	switch {
	case flags.NArg() != 1:
		flags.Usage()
		return exitUsage
	case *keyFile == "":
		return fail(e, cmd, exitUsage, "pass --key FILE", "missing --key")
	case *role == "":
		return fail(e, cmd, exitUsage, "pass --role, e.g. --role auditor", "missing --role")
	}
	key, err := loadKey(*keyFile)
	if err != nil {
		return fail(e, cmd, exitUsage, keyHint(err), "--key: %v", err)
	}
	doc, code := readDocument(e, cmd, flags.Arg(0))
	if doc == nil {
		return code
	}
	out, err := covenant.Countersign(doc, key, *role)
	if err != nil {
		return fail(e, cmd, exitInvalid, "", "%v", err)
	}
	fmt.Fprintln(e.stdout, string(canon.AppendIndent(nil, out.Object())))
	return exitOK
}

func runCanon(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet(e, "canon", "FILE")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return exitUsage
	}
	b, err := readInput(e, flags.Arg(0))
	if err != nil {
		return fail(e, "canon", exitUsage, "", "%v", err)
	}
	v, err := canon.ParseLimits(b, canon.Limits{MaxBytes: covenant.MaxDocumentSize})
	if err != nil {
		return fail(e, "canon", exitInvalid, "", "%s: %v", flags.Arg(0), err)
	}
	obj, ok := v.(*canon.Object)
	if !ok || obj == nil {
		return fail(e, "canon", exitInvalid, "the canonical form and ID are defined for covenant documents (JSON objects)", "%s: not a JSON object", flags.Arg(0))
	}
	form := canon.AppendCanonicalExcept(nil, obj, "id", "signature", "countersignatures")
	fmt.Fprintln(e.stdout, string(form))
	fmt.Fprintln(e.stdout, keys.SHA256Hex(form))
	return exitOK
}

// verifyInput is one document named on the verify command line.
type verifyInput struct {
	file string
	doc  *covenant.Document
	err  error // parse error: the document is invalid
}

func runVerify(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet(e, "verify", "[--at RFC3339] [--json] FILE|DIR...")
	atFlag := flags.String("at", "", "verify as of this instant (RFC 3339) instead of now")
	asJSON := flags.Bool("json", false, "print one JSON object per file")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	const cmd = "verify"
	if flags.NArg() == 0 {
		flags.Usage()
		return exitUsage
	}
	var opts []covenant.VerifierOption
	if *atFlag != "" {
		at, err := jobs.ParseAt(*atFlag)
		if err != nil {
			return fail(e, cmd, exitUsage, "use RFC 3339, e.g. 2026-01-01T00:00:00Z", "--at: %v", err)
		}
		opts = append(opts, covenant.WithClock(func() time.Time { return at }))
	}
	v, err := covenant.NewVerifier(opts...)
	if err != nil {
		return fail(e, cmd, exitUsage, "", "%v", err)
	}
	files, err := expandInputs(flags.Args())
	if err != nil {
		return fail(e, cmd, exitUsage, "", "%v", err)
	}
	inputs := make([]verifyInput, len(files))
	var docs []*covenant.Document
	var docIdx []int
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return fail(e, cmd, exitStopped, "", "stopped after reading %d of %d files: %v", i, len(files), err)
		}
		inputs[i].file = f
		b, err := readInput(e, f)
		if err != nil {
			return fail(e, cmd, exitUsage, "", "%v", err)
		}
		inputs[i].doc, inputs[i].err = covenant.Parse(b)
		if inputs[i].err == nil {
			docs = append(docs, inputs[i].doc)
			docIdx = append(docIdx, i)
		}
	}
	results := make([]covenant.Result, len(files))
	for j, r := range v.VerifyBatchContext(ctx, docs) {
		results[docIdx[j]] = r
	}
	code := exitOK
	for i, in := range inputs {
		valid := in.err == nil && results[i].Valid
		if !valid {
			code = exitInvalid
		}
		if *asJSON {
			fmt.Fprintln(e.stdout, string(canon.AppendJSON(nil, verifyLine(in, results[i]))))
			continue
		}
		switch {
		case in.err != nil:
			fmt.Fprintf(e.stdout, "INVALID %s: %v\n", in.file, in.err)
		case valid:
			fmt.Fprintf(e.stdout, "ok      %s %s\n", in.file, in.doc.ID())
		default:
			fmt.Fprintf(e.stdout, "INVALID %s %s\n", in.file, in.doc.ID())
			for _, c := range results[i].Checks {
				if !c.Passed {
					fmt.Fprintf(e.stdout, "        %s: %s\n", c.Name, c.Message)
				}
			}
		}
	}
	return code
}

// verifyLine is the --json shape: {"file","id","valid","checks":[…]}, with
// "error" instead of checks when the file is not a covenant.
func verifyLine(in verifyInput, r covenant.Result) *canon.Object {
	o := canon.NewObject(5)
	o.Set("file", in.file)
	if in.err != nil {
		o.Set("id", nil)
		o.Set("valid", false)
		o.Set("checks", []any{})
		o.Set("error", in.err.Error())
		return o
	}
	o.Set("id", in.doc.ID())
	o.Set("valid", r.Valid)
	checks := make([]any, len(r.Checks))
	for i, c := range r.Checks {
		co := canon.NewObject(3)
		co.Set("name", c.Name)
		co.Set("passed", c.Passed)
		co.Set("message", c.Message)
		checks[i] = co
	}
	o.Set("checks", checks)
	return o
}

// expandInputs replaces each directory by the *.json files directly in it
// (links to files included), sorted by name.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, ent := range entries {
			if !strings.HasSuffix(ent.Name(), ".json") {
				continue
			}
			p := filepath.Join(a, ent.Name())
			switch {
			case ent.Type().IsRegular():
				names = append(names, p)
			case ent.Type()&fs.ModeSymlink != 0:
				// A link to a file counts (mounted configuration is often
				// links); a dangling one is kept so that reading it fails
				// loudly instead of the document being skipped.
				if st, err := os.Stat(p); err != nil || st.Mode().IsRegular() {
					names = append(names, p)
				}
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no *.json files in directory: %w", a, fs.ErrNotExist)
		}
		sort.Strings(names)
		out = append(out, names...)
	}
	return out, nil
}
