package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

	"github.com/stele-go/stele/internal/core/keys"
)

func runKeygen(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet(e, "keygen", "[--out FILE]")
	out := flags.String("out", "stele.key", "key file to write (mode 0600); it must not exist")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}
	if flags.NArg() != 0 {
		return fail(e, "keygen", exitUsage, "", "unexpected argument %q", flags.Arg(0))
	}
	k, err := keys.Generate()
	if err != nil {
		return fail(e, "keygen", exitUsage, "", "generate key: %v", err)
	}
	if err := writeKeyFile(*out, keys.EncodeHex(k.Seed())); err != nil {
		hint := ""
		if errors.Is(err, iofs.ErrExist) {
			hint = "choose another --out path or remove the old key first"
		}
		return fail(e, "keygen", exitUsage, hint, "%v", err)
	}
	fmt.Fprintln(e.stdout, k.PublicHex())
	return exitOK
}

// writeKeyFile creates path with mode 0600; it refuses to overwrite.
func writeKeyFile(path, seedHex string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := fmt.Fprintln(f, seedHex); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}
