// Package benchcpu reports a benchmark's CPU time next to its wall time. On a
// machine shared with other work, wall time also counts the time spent
// waiting for a CPU, which skews the ratios between benchmarks; the CPU time
// of the benchmark goroutine's OS thread does not.
package benchcpu

import (
	"runtime"
	"testing"
)

// PerOp locks the benchmark goroutine to its thread and starts measuring;
// call the returned function after the loop. It reports the thread's CPU
// time divided by b.N*perOp as the metric "cpu-ns/<unit>" (for example
// "cpu-ns/op", or "cpu-ns/doc" when one op handles perOp documents). Where
// the platform has no per-thread clock it reports nothing.
func PerOp(b *testing.B, unit string, perOp int) func() {
	runtime.LockOSThread()
	start, ok := threadCPUTime()
	return func() {
		end, _ := threadCPUTime()
		runtime.UnlockOSThread()
		if ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N*perOp), "cpu-ns/"+unit)
		}
	}
}
