package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// jobStatus is the part of the gateway's job answer the tool reads.
type jobStatus struct {
	JobID   string `json:"jobId"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Valid   int    `json:"valid"`
	Invalid int    `json:"invalid"`
	Failed  int    `json:"failed"`
	// CompletedAt is when the last result was recorded (the recording
	// worker's clock: this machine's, as the gateway is on loopback).
	CompletedAt time.Time `json:"completedAt"`
	Items       []struct {
		Index int    `json:"index"`
		Valid bool   `json:"valid"`
		Error string `json:"error"`
	} `json:"items"`
}

// SubmitResult is one NDJSON submission of the whole set.
type SubmitResult struct {
	JobID     string        `json:"jobId"`
	Documents int           `json:"documents"`
	Bytes     int64         `json:"bytes"`
	Upload    time.Duration `json:"uploadNs"`   // until the 202 answer
	Elapsed   time.Duration `json:"elapsedNs"`  // until the job completed (its completedAt)
	Observed  time.Duration `json:"observedNs"` // until the poll that saw it completed
	DocsPerS  float64       `json:"docsPerSecond"`
	Valid     int           `json:"valid"`
	Invalid   int           `json:"invalid"`
	Failed    int           `json:"failed"`
}

// submitNDJSON uploads the set at path as one NDJSON job and polls the job
// until it completes or timeout passes. Elapsed runs from the start of the
// upload to the job's completedAt, so the poll interval (up to 100 ms) does
// not add to it; Observed is until the poll that saw the job completed.
func submitNDJSON(ctx context.Context, client *http.Client, base, path string, timeout time.Duration) (SubmitResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return SubmitResult{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SubmitResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/verify", f)
	if err != nil {
		return SubmitResult{}, err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/x-ndjson")
	var js jobStatus
	if err := doJSON(client, req, http.StatusAccepted, &js); err != nil {
		return SubmitResult{}, fmt.Errorf("submit: %w", err)
	}
	res := SubmitResult{JobID: js.JobID, Bytes: st.Size(), Upload: time.Since(start)}
	poll := 20 * time.Millisecond
	for js.Status != "completed" {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("job %s: %d of %d done when giving up: %w", js.JobID, js.Done, js.Total, ctx.Err())
		case <-time.After(poll):
		}
		poll = min(poll*2, 100*time.Millisecond)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/jobs/"+res.JobID, nil)
		if err != nil {
			return res, err
		}
		if err := doJSON(client, req, http.StatusOK, &js); err != nil {
			return res, fmt.Errorf("poll job %s: %w", res.JobID, err)
		}
	}
	res.Observed = time.Since(start)
	res.Elapsed = res.Observed
	if c := js.CompletedAt.Sub(start); !js.CompletedAt.IsZero() && c > 0 && c <= res.Observed {
		res.Elapsed = c
	}
	res.Documents = js.Total
	res.Valid, res.Invalid, res.Failed = js.Valid, js.Invalid, js.Failed
	res.DocsPerS = float64(js.Total) / res.Elapsed.Seconds()
	return res, nil
}

// doJSON sends req and decodes a JSON answer with status want into v.
func doJSON(client *http.Client, req *http.Request, want int, v any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 512)]))
	}
	return json.Unmarshal(body, v)
}

// LatencyResult is the fixed-rate single-document ?wait measurement.
type LatencyResult struct {
	Rate     float64       `json:"rate"` // requests per second asked for
	Duration time.Duration `json:"durationNs"`
	NotValid int           `json:"notValid"` // answers that were not 200 + valid
	Client   string        `json:"client"`   // raw or std (see -latency-client)
	Latencies
}

// measureLatency sends one single-document verification with ?wait at a
// fixed rate (open loop: each request's latency counts from the moment it was
// due, so a stalled gateway cannot hide its queueing) through post and
// reports the latency distribution. docs are cycled through.
func measureLatency(ctx context.Context, post poster, docs [][]byte, rate float64, d time.Duration, maxInFlight int) (LatencyResult, error) {
	l, err := openLoop(ctx, rate, d, maxInFlight, func(ctx context.Context, i int) error {
		body := make([]byte, 0, len(docs[i%len(docs)])+64)
		body = append(body, `{"items":[{"ref":"`...)
		body = strconv.AppendInt(body, int64(i), 10)
		body = append(body, `","document":`...)
		body = append(body, docs[i%len(docs)]...)
		body = append(body, "}]}"...)
		status, answer, err := post(ctx, 0, body)
		if err != nil {
			return err
		}
		return checkSingleVerify(status, answer)
	})
	if err != nil {
		return LatencyResult{}, err
	}
	return LatencyResult{Rate: rate, Duration: d, Latencies: l}, nil
}

// latencyPath is what the latency phase posts to.
const latencyPath = "/v1/verify?wait=5s"

// checkSingleVerify checks that the answer to a single-document request is
// 200 with one valid item.
func checkSingleVerify(status int, answer []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("POST %s: status %d: %s", latencyPath, status, bytes.TrimSpace(answer[:min(len(answer), 512)]))
	}
	var js jobStatus
	if err := json.Unmarshal(answer, &js); err != nil {
		return fmt.Errorf("POST %s: %w", latencyPath, err)
	}
	if js.Status != "completed" || len(js.Items) != 1 || !js.Items[0].Valid {
		return fmt.Errorf("job %s: status %s, %d items, want one valid item", js.JobID, js.Status, len(js.Items))
	}
	return nil
}
