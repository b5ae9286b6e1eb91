package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/stele-go/stele/internal/testutil/redistest"
)

// The servers under the processes of a test are a real nats-server with
// JetStream and a real redis-server, each test its own. Where a Docker
// engine answers, they run as containers through testcontainers-go (the
// images below); elsewhere as child processes on free ports (nats-server
// found or built by setup, redis-server from PATH). STELE_E2E_SERVERS picks
// one: "local" never asks Docker, "containers" fails without it; unset, the
// tests use Docker when it answers. TestMain says which it uses, and why.
//
// Tests that stop, freeze or restart a server themselves always run it as
// a local process (startLocalNATS, redistest.StartServer): they signal its
// process.

// EnvServers names the variable that picks where the servers run.
const EnvServers = "STELE_E2E_SERVERS"

// The images of the containers.
const (
	natsImage  = "nats:2.10-alpine"
	redisImage = "redis:7-alpine"
)

// serverMode is where a test's servers run.
type serverMode int

const (
	serversLocal serverMode = iota
	serversContainers
)

func (m serverMode) String() string {
	if m == serversContainers {
		return "containers (testcontainers-go)"
	}
	return "local processes"
}

// dockerProbeTimeout bounds the question whether a Docker engine answers.
const dockerProbeTimeout = 10 * time.Second

// chooseServers decides where the servers run, from the value of
// EnvServers and whether Docker answers; why says what decided.
func chooseServers(setting string) (mode serverMode, why string, err error) {
	switch setting {
	case "local":
		return serversLocal, EnvServers + "=local", nil
	case "", "containers":
	default:
		return 0, "", fmt.Errorf("%s=%q: want local, containers or nothing (containers when Docker answers)", EnvServers, setting)
	}
	perr := dockerAnswers()
	switch {
	case perr == nil:
		return serversContainers, "a Docker engine answers", nil
	case setting == "containers":
		return 0, "", fmt.Errorf("%s=containers, but Docker does not answer: %w", EnvServers, perr)
	default:
		return serversLocal, fmt.Sprintf("Docker does not answer (%v)", perr), nil
	}
}

// dockerAnswers reports why testcontainers-go cannot use a Docker engine,
// or nil when it can.
func dockerAnswers() error {
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
	defer cancel()
	return p.Health(ctx)
}

// startServers returns the URLs of a nats-server with JetStream (once
// JetStream answers) and a redis-server for t alone, stopped when t ends.
func startServers(t *testing.T) (natsURL, redisURL string) {
	t.Helper()
	if bin.servers != serversContainers {
		return startLocalNATS(t), redistest.StartServer(t, redistest.Options{}).URL()
	}
	natsURL = "nats://" + startContainer(t, natsImage, "4222/tcp", []string{"-js", "-sd", "/data", "--server_name", "e2e"})
	waitJetStream(t, natsURL, nil)
	redisURL = "redis://" + startContainer(t, redisImage, "6379/tcp", []string{"redis-server", "--save", "", "--appendonly", "no"})
	return natsURL, redisURL
}

// startContainer runs image with cmd, terminated when t ends, and returns
// the host:port its port is reachable at once it listens.
func startContainer(t *testing.T, image, port string, cmd []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, image,
		testcontainers.WithCmd(cmd...),
		testcontainers.WithExposedPorts(port),
		testcontainers.WithWaitStrategy(wait.ForListeningPort(port).WithStartupTimeout(time.Minute)))
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("container %s: %v", image, err)
	}
	// With no protocol, the endpoint is host:port.
	hostPort, err := c.PortEndpoint(ctx, port, "")
	if err != nil {
		t.Fatalf("container %s: port %s: %v", image, port, err)
	}
	return hostPort
}

// announceServers tells, once, where the servers of the tests run.
func announceServers(mode serverMode, why string) {
	fmt.Fprintf(os.Stderr, "e2e: servers run as %s: %s\n", mode, why)
}

// TestChooseServers: EnvServers picks local processes or containers, and
// without it the choice follows whether Docker answers; a value it does not
// know, or containers without Docker, is an error rather than a silent
// fallback.
func TestChooseServers(t *testing.T) {
	docker := dockerAnswers()
	if m, _, err := chooseServers("local"); err != nil || m != serversLocal {
		t.Errorf("local: %v, %v", m, err)
	}
	if _, _, err := chooseServers("docker"); err == nil {
		t.Error("an unknown value was accepted")
	}
	m, why, err := chooseServers("")
	switch {
	case err != nil:
		t.Errorf("unset: %v", err)
	case docker == nil && m != serversContainers:
		t.Errorf("unset with Docker answering: %v (%s)", m, why)
	case docker != nil && (m != serversLocal || !strings.Contains(why, "Docker does not answer")):
		t.Errorf("unset without Docker: %v (%s), want local processes saying why", m, why)
	}
	m, _, err = chooseServers("containers")
	if docker == nil && (err != nil || m != serversContainers) || docker != nil && err == nil {
		t.Errorf("containers (Docker: %v): %v, %v", docker, m, err)
	}
}
