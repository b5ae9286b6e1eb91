package loadtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Latencies is a latency distribution measured open loop.
type Latencies struct {
	Requests  int           `json:"requests"`
	Errors    int           `json:"errors"`
	Achieved  float64       `json:"achievedRate"` // requests completed per second of the whole run
	P50       time.Duration `json:"p50Ns"`
	P90       time.Duration `json:"p90Ns"`
	P99       time.Duration `json:"p99Ns"`
	P999      time.Duration `json:"p999Ns"`
	Max       time.Duration `json:"maxNs"`
	Mean      time.Duration `json:"meanNs"`
	FirstErr  string        `json:"firstError,omitempty"`
	MaxFlight int           `json:"maxInFlight"`
	// Late is the number of requests sent more than a millisecond after
	// they were due (the tool could not keep up, or every slot in flight
	// was taken); their delay is part of their latency.
	Late int `json:"late"`
	// FromSend is the distribution measured from the moment each request
	// was actually sent (what a closed-loop tool would report): the gap to
	// the figures above is the tool's own lateness, its pacer waking late
	// or every slot busy.
	FromSend struct {
		P50  time.Duration `json:"p50Ns"`
		P99  time.Duration `json:"p99Ns"`
		P999 time.Duration `json:"p999Ns"`
	} `json:"fromSend"`
}

// openLoop calls send(ctx, i) for i = 0 … rate×d−1, request i being due at
// start + i/rate, each in its own goroutine with at most maxInFlight at once.
// It is open loop: a request's latency counts from the moment it was due,
// not from when it was sent, so a stalled server cannot hide its queueing
// (no coordinated omission).
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInFlight int, send func(ctx context.Context, i int) error) (Latencies, error) {
	n := int(rate * d.Seconds())
	if n < 1 {
		return Latencies{}, fmt.Errorf("%w: rate × duration gives no request", ErrUsage)
	}
	period := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	late := make([]bool, n)
	service := make([]time.Duration, n)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	p := newPacer()
	defer p.close()
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * period)
		if err := p.wait(ctx, due); err != nil {
			wg.Wait()
			return Latencies{}, err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return Latencies{}, ctx.Err()
		}
		late[i] = time.Since(due) > time.Millisecond
		wg.Go(func() {
			defer func() { <-sem }()
			sent := time.Now()
			errs[i] = send(ctx, i)
			end := time.Now()
			lat[i], service[i] = end.Sub(due), end.Sub(sent)
		})
	}
	wg.Wait()
	total := time.Since(start)
	res := Latencies{Requests: n, MaxFlight: maxInFlight, Achieved: float64(n) / total.Seconds()}
	var sum time.Duration
	for i, err := range errs {
		if err != nil {
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
		}
		if late[i] {
			res.Late++
		}
		sum += lat[i]
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(n-1, int(float64(n)*p))] }
	res.P50, res.P90, res.P99, res.P999, res.Max = pct(0.50), pct(0.90), pct(0.99), pct(0.999), lat[n-1]
	res.Mean = sum / time.Duration(n)
	slices.Sort(service)
	spct := func(p float64) time.Duration { return service[min(n-1, int(float64(n)*p))] }
	res.FromSend.P50, res.FromSend.P99, res.FromSend.P999 = spct(0.50), spct(0.99), spct(0.999)
	return res, nil
}
