// Package e2e holds Stele's end-to-end tests: they build the gateway and
// verifier binaries and run them as separate processes against a real
// nats-server (v2.10 or later, with JetStream) and a real redis-server, each
// started by the test on free loopback ports, and the all-in-one
// (gateway --embedded). A missing nats-server or redis-server fails the suite
// with a message saying how to get it; nothing is skipped.
//
// nats-server is looked for in $(go env GOPATH)/bin, then on PATH; when no
// recent enough one is found, the suite runs
// `go install github.com/nats-io/nats-server/v2@v2.15.2` once.
package e2e
