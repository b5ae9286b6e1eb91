// Command signer is a Stele signing worker. It holds issuer keys (a
// directory of key files as 'stele keygen' writes them, and STELE_KEY_<ID>
// variables), pulls sign job chunks from the STELE_JOBS stream (durable
// consumer "signer", shared by every signer), builds and signs the covenants
// of each chunk, writes them and the results to the shared Redis store
// together, and acknowledges the chunk only then. Private keys never leave
// the process; the public halves are advertised in the store's key
// directory, at start-up and periodically, so that gateways can name issuer
// keys.
//
// Signers may hold different keys. An item naming a key this signer lacks is
// handed back to the queue (its chunk's other items are recorded) so that a
// signer holding the key takes it; after a bounded number of deliveries it
// fails with unknown_key. Other chunks keep flowing meanwhile.
//
// Configuration comes from flags, or from the STELE_* environment variable
// named in each flag's help; a flag given on the command line wins. A key
// or marker file that group or others may read is refused. STELE_KEYS_RETIRED
// lists rotated-out key IDs (or mark one with an empty <keyID>.retired file,
// mode 0600, next to its key): they sign nothing new, and what they signed keeps verifying. SIGTERM
// or SIGINT drains the worker: it stops fetching, finishes and acknowledges
// the chunks in hand, and exits.
//
// Usage:
//
//	signer -keys DIR [flags]
//
// Exit status: 0 after a drain, 1 when the worker fails, 2 on bad
// configuration (including unreadable or unsafe keys).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/worker"
)

func main() {
	worker.Main("signer", run)
}

// config is the signer's configuration.
type config struct {
	worker.Config
	keysDir string
	keys    *keyring.Keyring
	sign    jobs.SignConfig
	// advertiseEvery is the period of key advertisements.
	advertiseEvery time.Duration
}

// parseConfig reads flags, then the STELE_* variable of every flag not given
// on the command line, and loads the keys.
func parseConfig(args, environ []string, out io.Writer) (config, error) {
	var c config
	fs := worker.NewFlags("signer", out)
	worker.CommonFlags(fs, &c.Config, "signer", store.KindSign, jobs.DefaultSignMaxDeliver)
	fs.StringVar(&c.keysDir, "keys", "STELE_KEYS_DIR", "", "directory of issuer key files <keyID>.key (mode 0600; an empty <keyID>.retired retires one); more keys from STELE_KEY_<ID>=<hex seed>; STELE_KEYS_RETIRED=<ID>[,<ID>...] retires keys of either")
	fs.DurationVar(&c.advertiseEvery, "advertise-every", "STELE_ADVERTISE_EVERY", time.Minute, "how often the keys are advertised in the store")
	fs.IntVar(&c.sign.Concurrency, "sign-concurrency", "STELE_SIGN_CONCURRENCY", runtime.GOMAXPROCS(0), "covenants of one chunk signed at once")
	fs.IntVar(&c.sign.MaxUnknownKeyDeliveries, "max-unknown-key-deliveries", "STELE_MAX_UNKNOWN_KEY_DELIVERIES",
		jobs.DefaultMaxUnknownKeyDeliveries, "deliveries before an item whose key no signer advertises fails with unknown_key")
	fs.IntVar(&c.sign.MaxAdvertisedKeyDeliveries, "max-advertised-key-deliveries", "STELE_MAX_ADVERTISED_KEY_DELIVERIES",
		jobs.DefaultMaxAdvertisedKeyDeliveries, "deliveries before an item whose key another signer advertises fails with unknown_key")
	fs.DurationVar(&c.sign.UnknownKeyRetryDelay, "unknown-key-delay", "STELE_UNKNOWN_KEY_DELAY",
		jobs.DefaultUnknownKeyRetryDelay, "delay before a chunk with keys this signer lacks is offered again")
	if err := fs.Parse(args, worker.Getenv(environ)); err != nil {
		return c, err
	}
	if err := c.Finish(); err != nil {
		return c, err
	}
	if c.advertiseEvery < time.Second || c.advertiseEvery > jobs.DefaultKeyStaleAfter/2 {
		return c, worker.Usagef("advertise interval %v: want 1s to %v (half the time after which other signers deem a key's advertisement stale)",
			c.advertiseEvery, jobs.DefaultKeyStaleAfter/2)
	}
	if c.sign.Concurrency < 1 {
		return c, worker.Usagef("sign concurrency %d: want at least 1", c.sign.Concurrency)
	}
	if c.sign.MaxUnknownKeyDeliveries < 1 || c.sign.MaxAdvertisedKeyDeliveries < 1 {
		return c, worker.Usagef("unknown-key delivery bounds must be at least 1")
	}
	if c.sign.UnknownKeyRetryDelay <= 0 {
		return c, worker.Usagef("unknown-key delay must be positive")
	}
	// The consumer must deliver an item more often than the handler tries
	// other signers, or the item would be dropped instead of failed.
	if md := c.Consumer.MaxDeliver; md != -1 && md <= max(c.sign.MaxUnknownKeyDeliveries, c.sign.MaxAdvertisedKeyDeliveries) {
		return c, worker.Usagef("max deliver %d must exceed the unknown-key delivery bounds (%d and %d)",
			md, c.sign.MaxUnknownKeyDeliveries, c.sign.MaxAdvertisedKeyDeliveries)
	}
	keys, err := keyring.LoadAll(c.keysDir, environ)
	if err != nil {
		return c, worker.UsageError{Err: err}
	}
	if keys.Len() == 0 {
		return c, worker.Usagef("no keys: pass -keys DIR (STELE_KEYS_DIR) or set STELE_KEY_<ID>=<hex seed>")
	}
	c.keys = keys
	return c, nil
}

// run runs the worker until ctx is cancelled, then drains it.
func run(ctx context.Context, args, environ []string, stderr io.Writer) error {
	cfg, err := parseConfig(args, environ, stderr)
	if err != nil {
		return err
	}
	log := cfg.Logger(stderr)
	cfg.Runner.Logger = log

	stopDebug, err := worker.StartDebug(&cfg.Config, log)
	if err != nil {
		return err
	}
	defer stopDebug()

	conn, cons, err := worker.Connect(ctx, &cfg.Config, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	st := conn.Store
	if err := cfg.keys.Advertise(ctx, st, conn.Now()); err != nil {
		return err // names the key IDs, and how to rotate when one is taken
	}
	sc := cfg.sign
	sc.Keys, sc.Documents, sc.Revocations, sc.Jobs, sc.Directory, sc.Logger = cfg.keys, st, st, st, st, log
	sc.Now = conn.Now
	h, err := jobs.NewSignHandler(sc)
	if err != nil {
		return err
	}
	r, err := jobs.NewRunner(cons, conn.JS, st, h, cfg.Runner)
	if err != nil {
		return err
	}

	advCtx, stopAdvertising := context.WithCancel(ctx)
	advDone := make(chan struct{})
	go func() {
		defer close(advDone)
		advertise(advCtx, cfg.keys, st, cfg.advertiseEvery, conn.Now, log)
	}()
	defer func() { stopAdvertising(); <-advDone }()

	stopAnnouncer, err := worker.StartAnnouncer(conn, log)
	if err != nil {
		return err
	}
	defer stopAnnouncer()
	log.Info("signer started", "nats", conn.NC.ConnectedUrlRedacted(), "concurrency", cfg.Runner.Concurrency,
		"fetch_batch", cfg.Runner.FetchBatch, "keys", cfg.keys)
	if err := r.Run(ctx); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	log.Info("signer drained")
	return nil
}

// advertise re-advertises the keys every period, as seen at now(), until
// ctx is done.
func advertise(ctx context.Context, keys *keyring.Keyring, dir store.KeyDirectory, every time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			actx, cancel := context.WithTimeout(ctx, every)
			err := keys.Advertise(actx, dir, now())
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Error("advertising keys failed", "err", err)
			}
		}
	}
}
