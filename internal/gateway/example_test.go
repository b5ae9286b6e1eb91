package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/sqlitestore"
)

// Example mounts the gateway on an in-process JetStream server and a SQLite
// store, and shows how a bad request is answered: a 4xx naming the field,
// with a stable code, and nothing queued.
func Example() {
	dir, err := os.MkdirTemp("", "stele-gateway-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ns, err := server.NewServer(&server.Options{DontListen: true, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	ns.ReadyForConnections(10 * time.Second)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		fmt.Println(err)
		return
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	gw, err := gateway.New(gateway.Config{Store: st, NATS: nc})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/v1/verify", "application/json",
		strings.NewReader(`{"items":[{"ref":"a","document":{}},{"ref":7,"document":{}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output: 400 {"error":{"code":"invalid_field","message":"must be a string, got a number","field":"items[1].ref"}}
}
