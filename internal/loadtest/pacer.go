package loadtest

import "time"

// pacerSlice bounds one sleep of a pacer, so that a cancelled context is
// noticed within it however far away the due time is.
const pacerSlice = 10 * time.Millisecond

// A pacer makes the open-loop generator's goroutine wait until each
// request's due time. It is used by one goroutine, from newPacer to close.
//
// Precision matters here because latency is counted from the due time: Go's
// timers wake an otherwise idle program only on whole milliseconds (the
// runtime's poller waits in milliseconds), so a timer-paced tool sends
// requests in bursts up to a millisecond late and reports that delay as the
// server's. Measured on the project's 2-vCPU machine for a 500 µs period:
// a timer wakes p50 533 µs / p99 1.07 ms late, a nanosleep p50 76 µs /
// p99 106 µs (with the default 50 µs timer slack).
//
// newPacer and its methods are defined per platform: pacer_linux.go sleeps
// in the kernel, pacer_other.go falls back to a timer.
