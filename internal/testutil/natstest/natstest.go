// Package natstest starts isolated NATS servers with JetStream for tests.
//
// Each server runs in-process on a free loopback port with its JetStream
// store in a per-test temporary directory and is shut down by t.Cleanup, so
// tests never touch a NATS server they did not start. Setting
// STELE_TEST_NATS_URL makes Start return that URL instead (for running the
// suites against an existing server); tests then share that server's streams.
package natstest

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EnvURL names the environment variable that points tests at an existing
// NATS server instead of an in-process one.
const EnvURL = "STELE_TEST_NATS_URL"

// Options tune a test server. The zero value is a JetStream server on a
// random port with the default maximum payload (1 MiB).
type Options struct {
	// MaxPayload overrides the server's maximum message payload in bytes.
	MaxPayload int32
	// StoreDir is the JetStream directory; a fresh t.TempDir() when empty.
	// Reusing a directory across StartServer calls keeps the streams, which
	// is how tests simulate a server restart.
	StoreDir string
}

// Start returns the client URL of a fresh JetStream server (or of the server
// named by STELE_TEST_NATS_URL).
func Start(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return StartServer(t, Options{}).ClientURL()
}

// StartServer starts an in-process JetStream server with opts and returns it;
// it ignores STELE_TEST_NATS_URL. The server is shut down at cleanup (calling
// Shutdown earlier is harmless).
func StartServer(t testing.TB, opts Options) *server.Server {
	t.Helper()
	dir := opts.StoreDir
	if dir == "" {
		dir = t.TempDir()
	}
	so := &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: opts.MaxPayload,
		// Limits are reservations, not allocations: large enough for the
		// production stream limits (STELE_JOBS reserves 1 GiB).
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  16 << 30,
	}
	s, err := server.NewServer(so)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("natstest: server not ready within 10s")
	}
	return s
}

// Connect connects to url as the test (the connection is closed at
// cleanup) and returns the connection with its JetStream handle.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}
