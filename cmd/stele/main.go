// Command stele builds, signs, verifies and evaluates Stele covenants.
//
// Usage:
//
//	stele keygen [--out FILE]
//	stele build --key FILE --issuer-id ID --beneficiary-id ID --beneficiary-key HEX --constraints FILE [...]
//	stele countersign --key FILE --role ROLE DOC
//	stele verify [--at RFC3339] [--json] FILE|DIR...
//	stele canon FILE
//	stele eval --constraints FILE --action A --resource R [--context JSON] [--json]
//	stele parse FILE
//	stele dead list|replay [--nats URL] [--nats-creds FILE] [--limit N] [--json] [SEQ...]
//	stele loadtest [flags]   (see internal/loadtest)
//	stele help [COMMAND]
//
// Exit status: 0 on success, 1 when a document is invalid or an action is
// denied, 2 on bad usage or unreadable input.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1   // a document is invalid or an action denied
	exitUsage   = 2   // bad usage or unreadable input
	exitStopped = 130 // stopped by SIGINT or SIGTERM
)

// env is what a command may touch: its streams and the working directory's
// files. Tests run commands in-process through it.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

func commands() []command {
	return []command{
		{"keygen", "generate an Ed25519 key file and print its public key", runKeygen},
		{"build", "build and sign a covenant", runBuild},
		{"countersign", "add a countersignature to a covenant", runCountersign},
		{"verify", "verify covenants (files or directories of *.json)", runVerify},
		{"canon", "print a document's canonical form and ID", runCanon},
		{"eval", "evaluate an action against CCL constraints", runEval},
		{"parse", "parse CCL and print its statements as JSON", runParse},
		{"dead", "list and replay the dead letters of a cluster (STELE_DEAD)", runDead},
		{"loadtest", "measure a running gateway against the pipeline's bars", runLoadtest},
	}
}

// cancellable reports whether command cmd stops early, cleanly, on SIGINT
// or SIGTERM (it watches its context); every other command is ended by the
// signal as usual.
func cancellable(cmd string) bool { return cmd == "loadtest" || cmd == "verify" }

func main() {
	ctx, stop := context.Background(), context.CancelFunc(func() {})
	if len(os.Args) > 1 && cancellable(os.Args[1]) {
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		// The first signal asks the command to stop; a second one ends the
		// process at once.
		go func() { <-ctx.Done(); stop() }()
	}
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs the command args name. "stele help CMD" is "stele CMD -h"; with
// no command, or -h, --help or help alone, it prints the usage (exit status 2
// for no command, 0 otherwise).
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 2 && args[0] == "help" {
		args = []string{args[1], "-h"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "stele: unknown command %q\n", args[0])
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: stele <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'stele <command> -h' (or 'stele help <command>') for a command's flags.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 invalid document or denied action, 2 bad usage or unreadable input.")
}

// newFlagSet returns a flag set that reports errors on e.stderr with the
// command's name and never exits the process.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("stele "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: stele %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns ok=false with the exit code to use when
// parsing failed or help was asked for.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// fail prints "stele <cmd>: msg" and, when hint is not empty, a hint line.
func fail(e *env, cmd string, code int, hint string, format string, a ...any) int {
	fmt.Fprintf(e.stderr, "stele %s: %s\n", cmd, fmt.Sprintf(format, a...))
	if hint != "" {
		fmt.Fprintf(e.stderr, "hint: %s\n", hint)
	}
	return code
}
