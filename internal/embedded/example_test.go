package embedded_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/stele-go/stele/internal/embedded"
)

// Example starts the all-in-one in a temporary directory and verifies the
// example request it writes.
func Example() {
	dir, err := os.MkdirTemp("", "stele-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{
		DataDir: dir,
		Addr:    "127.0.0.1:0", // any free port
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer in.Shutdown(ctx)

	path, err := embedded.WriteExample(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := os.ReadFile(path)
	resp, err := http.Post("http://"+in.Addr()+"/v1/verify?wait=10s", "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var ans struct {
		Status string `json:"status"`
		Valid  int    `json:"valid"`
		Items  []struct {
			Ref   string `json:"ref"`
			Valid bool   `json:"valid"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, ans.Status, ans.Valid, ans.Items[0].Ref, ans.Items[0].Valid)
	// Output: 200 completed 1 example true
}
