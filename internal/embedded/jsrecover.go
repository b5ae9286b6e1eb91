package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A JetStream stream that fails to write a message (the disk is full) keeps
// that error and refuses every later message, even once space is freed, and
// a server out of storage disables JetStream; either way the work queue
// stays closed until JetStream is loaded again from disk. The all-in-one
// therefore watches for those errors and, once a probe write in the
// JetStream directory succeeds, restarts JetStream in its server: the
// streams and consumers are restored from disk, the gateway's publications
// succeed again, the workers' pulls resume, and chunks delivered before the
// restart and not acknowledged are delivered again.

// jetStreamRetry is how often the watcher probes the disk after a write
// error.
const jetStreamRetry = 2 * time.Second

// probeBytes is the size of the probe write: room for a chunk or two.
const probeBytes = 1 << 20

// watchJetStream restarts JetStream after nlog reports a store write
// error, once the disk takes writes again. It returns when in.watchStop is
// closed.
func (in *Instance) watchJetStream(opts *server.Options, nlog *natsLogger, retry time.Duration) {
	defer close(in.watchDone)
	for {
		select {
		case <-in.watchStop:
			return
		case <-nlog.writeErr:
		}
		in.log.Error("JetStream could not write to its store (is the disk full?); the work queue refuses jobs until it can write again, then it restarts",
			"dir", opts.StoreDir)
		for recovered := false; !recovered; {
			select {
			case <-in.watchStop:
				return
			case <-time.After(retry):
			}
			if err := probeWrite(opts.StoreDir, probeBytes); err != nil {
				in.log.Debug("JetStream store still not writable", "err", err)
				continue
			}
			if err := restartJetStream(in.ns, opts); err != nil {
				in.log.Warn("restarting JetStream failed; retrying", "err", err)
				continue
			}
			recovered = true
			// Errors reported while it restarted are those of the
			// stream it replaced.
			select {
			case <-nlog.writeErr:
			default:
			}
			in.log.Info("JetStream restarted: the work queue takes jobs again", "dir", opts.StoreDir)
		}
	}
}

// probeWrite writes and syncs n bytes in a new file under dir, then removes
// it.
func probeWrite(dir string, n int) (err error) {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer func() {
		f.Close()
		if rerr := os.Remove(f.Name()); rerr != nil && err == nil {
			err = fmt.Errorf("probe: %w", rerr)
		}
	}()
	if _, err := f.Write(make([]byte, n)); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	return nil
}

// restartJetStream shuts JetStream down in ns (if it is still enabled) and
// starts it again from its directory, as a configuration reload does for a
// server whose JetStream was disabled while it ran.
func restartJetStream(ns *server.Server, opts *server.Options) error {
	if ns.JetStreamEnabled() {
		if err := ns.ShutdownJetStream(); err != nil {
			return fmt.Errorf("shut down JetStream: %w", err)
		}
	}
	if err := ns.ReloadOptions(opts.Clone()); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if !ns.JetStreamEnabled() {
		return fmt.Errorf("JetStream did not start again in %s", filepath.Clean(opts.StoreDir))
	}
	return nil
}
