package loadtest

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// The pipeline's bars.
const (
	barThroughputRatio = 0.5
	barCacheSpeedup    = 3.0
	barP99             = 10 * time.Millisecond
	barEvalP99         = 2 * time.Millisecond
	barEvalRate        = 2000
	barSignRatio       = 0.5
)

// flatLimitKB is the RSS growth during a submission still called flat: a
// quarter of the batch's bytes, at most 128 MiB. A process that held the
// batch in memory would grow by more than the whole batch.
func flatLimitKB(batchBytes int64) int64 {
	return min(128<<10, batchBytes/4/1024)
}

// bars evaluates the bars the report has figures for.
func bars(rep *Report) []Bar {
	var out []Bar
	if rep.Inproc != nil && rep.Submit != nil {
		ratio := rep.Submit.DocsPerS / rep.Inproc.DocsPerS
		out = append(out, Bar{
			Name:     "end-to-end throughput",
			Target:   fmt.Sprintf(">= %.1f × in-process parse+verify (%.0f docs/s)", barThroughputRatio, barThroughputRatio*rep.Inproc.DocsPerS),
			Measured: fmt.Sprintf("%.0f docs/s = %.2f × (%.2f × verify-only)", rep.Submit.DocsPerS, ratio, rep.Submit.DocsPerS/rep.Inproc.VerifyDocsPerS),
			Pass:     ratio >= barThroughputRatio && rep.Submit.Failed == 0 && rep.Submit.Invalid == 0,
		})
	}
	if rep.Submit != nil && rep.Resubmit != nil {
		speedup := rep.Submit.Elapsed.Seconds() / rep.Resubmit.Elapsed.Seconds()
		out = append(out, Bar{
			Name:     "resubmission (cache hits)",
			Target:   fmt.Sprintf(">= %.0f× faster", barCacheSpeedup),
			Measured: fmt.Sprintf("%.2f× (%v vs %v)", speedup, rep.Resubmit.Elapsed.Round(time.Millisecond), rep.Submit.Elapsed.Round(time.Millisecond)),
			Pass:     speedup >= barCacheSpeedup && rep.Resubmit.Failed == 0 && rep.Resubmit.Invalid == 0,
		})
	}
	if l := rep.Latency; l != nil {
		out = append(out, Bar{
			Name:     "single-document ?wait p99",
			Target:   fmt.Sprintf("< %v at %g/s", barP99, l.Rate),
			Measured: fmt.Sprintf("p99 %v (p50 %v), %d errors, %.0f/s achieved", round(l.P99), round(l.P50), l.Errors, l.Achieved),
			Pass:     l.P99 < barP99 && l.Errors == 0 && l.Achieved >= 0.95*l.Rate,
		})
	}
	if e := rep.Evaluate; e != nil {
		out = append(out, Bar{
			Name:   "POST /v1/evaluate p99",
			Target: fmt.Sprintf("< %v at %d/s with the audit entry", barEvalP99, barEvalRate),
			Measured: fmt.Sprintf("p99 %v (p50 %v, p99.9 %v) at %g/s (achieved %.0f/s), %d errors, %d unexpected, audit %s",
				round(e.P99), round(e.P50), round(e.P999), e.Rate, e.Achieved, e.Errors, e.Unexpected, map[bool]string{true: "verifies", false: "BROKEN"}[e.AuditOK()]),
			Pass: e.P99 < barEvalP99 && e.Rate >= barEvalRate && e.Achieved >= 0.95*e.Rate && e.Errors == 0 && e.AuditOK(),
		})
	}
	if rep.Sign != nil && rep.SignInproc != nil {
		ratio := rep.Sign.PerS / rep.SignInproc.PerS
		out = append(out, Bar{
			Name:     "sign throughput",
			Target:   fmt.Sprintf(">= %.1f × in-process build+sign (%.0f/s)", barSignRatio, barSignRatio*rep.SignInproc.PerS),
			Measured: fmt.Sprintf("%.0f covenants/s = %.2f ×; %d signed, %d failed, %d missing, %d repeated", rep.Sign.PerS, ratio, rep.Sign.Signed, rep.Sign.Failed, rep.Sign.Missing, rep.Sign.Repeated),
			Pass:     ratio >= barSignRatio && rep.Sign.OK(),
		})
	}
	if rep.Submit != nil {
		limit := flatLimitKB(rep.Submit.Bytes)
		for _, ph := range rep.Memory {
			if ph.Phase != "submit" {
				continue
			}
			for _, p := range ph.Processes {
				growth := p.MaxKB - p.FirstKB
				out = append(out, Bar{
					Name:     fmt.Sprintf("memory flat, pid %d", p.PID),
					Target:   fmt.Sprintf("growth < %d MiB while streaming %d MiB", limit>>10, rep.Submit.Bytes>>20),
					Measured: fmt.Sprintf("%d → max %d MiB (+%d MiB)", p.FirstKB>>10, p.MaxKB>>10, growth>>10),
					Pass:     growth < limit,
				})
			}
		}
	}
	return out
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// writeTable prints the report for people.
func writeTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if rep.SetPath != "" {
		fmt.Fprintf(tw, "set\t%d documents, ~%d bytes, %d keys (%s)\n", rep.Set.N, rep.Set.Size, rep.Set.Keys, map[bool]string{true: "cached", false: "generated in " + rep.Generate.Round(time.Millisecond).String()}[rep.Cached])
	}
	if r := rep.Inproc; r != nil {
		fmt.Fprintf(tw, "in-process\t%.0f docs/s\tparse+verify: %d workers, %d documents (%d distinct) in %v; verify only: %.0f docs/s; %d invalid\n",
			r.DocsPerS, r.Workers, r.Documents, r.Sample, r.Elapsed.Round(time.Millisecond), r.VerifyDocsPerS, r.Invalid)
	}
	for _, s := range []struct {
		name string
		r    *SubmitResult
	}{{"submit", rep.Submit}, {"resubmit", rep.Resubmit}} {
		if s.r == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f docs/s\tjob %s: %d documents (%d MiB) in %v (upload %v, completion seen at %v); valid %d, invalid %d, failed %d\n",
			s.name, s.r.DocsPerS, s.r.JobID, s.r.Documents, s.r.Bytes>>20, s.r.Elapsed.Round(time.Millisecond),
			s.r.Upload.Round(time.Millisecond), s.r.Observed.Round(time.Millisecond), s.r.Valid, s.r.Invalid, s.r.Failed)
	}
	if l := rep.Latency; l != nil {
		fmt.Fprintf(tw, "latency\tp50 %v  p90 %v  p99 %v  p99.9 %v  max %v\t%d requests at %g/s (achieved %.0f/s, %s client), mean %v, %d errors\n",
			round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max), l.Requests, l.Rate, l.Achieved, l.Client, round(l.Mean), l.Errors)
		if l.FirstErr != "" {
			fmt.Fprintf(tw, "\tfirst error: %s\n", l.FirstErr)
		}
	}
	if r := rep.SignInproc; r != nil {
		fmt.Fprintf(tw, "sign-inproc\t%.0f covenants/s\tcovenant.Build on %d workers: %d covenants of ~%d bytes in %v\n",
			r.PerS, r.Workers, r.Covenants, r.MeanBytes, r.Elapsed.Round(time.Millisecond))
	}
	if r := rep.Sign; r != nil {
		fmt.Fprintf(tw, "sign\t%.0f covenants/s\tkey %s: %d items in %d job(s) in %v (upload %v); signed %d, failed %d, missing %d, repeated %d\n",
			r.PerS, r.KeyID, r.Items, len(r.Jobs), r.Elapsed.Round(time.Millisecond), r.Upload.Round(time.Millisecond), r.Signed, r.Failed, r.Missing, r.Repeated)
		if r.FirstErr != "" {
			fmt.Fprintf(tw, "\tfirst error: %s\n", r.FirstErr)
		}
	}
	if e := rep.Evaluate; e != nil {
		fmt.Fprintf(tw, "evaluate\tp50 %v  p90 %v  p99 %v  p99.9 %v  max %v\t%d requests at %g/s (achieved %.0f/s) over %d gateway(s) and %d covenant(s) (%s client, %d conns each), mean %v, %d late, %d errors; permitted %d, denied %d, unexpected %d\n",
			round(e.P50), round(e.P90), round(e.P99), round(e.P999), round(e.Max), e.Requests, e.Rate, e.Achieved, len(e.Gateways), len(e.Covenants), e.Client, e.Conns,
			round(e.Mean), e.Late, e.Errors, e.Permitted, e.Denied, e.Unexpected)
		fmt.Fprintf(tw, "\tfrom the actual send: p50 %v  p99 %v  p99.9 %v\n", round(e.FromSend.P50), round(e.FromSend.P99), round(e.FromSend.P999))
		if e.FirstErr != "" {
			fmt.Fprintf(tw, "\tfirst error: %s\n", e.FirstErr)
		}
		for _, a := range e.Audit {
			fmt.Fprintf(tw, "audit\t%s\tvalid %v, %d entries\n", a.CovenantID, a.Valid, a.Entries)
		}
	}
	for _, c := range rep.CPU {
		fmt.Fprintf(tw, "cpu %s\t%v\tmachine %v, other work %v, stolen by the hypervisor %v; tool %v", c.Phase, c.Elapsed.Round(time.Millisecond),
			c.Machine.Round(10*time.Millisecond), c.Foreign().Round(10*time.Millisecond), c.Steal.Round(10*time.Millisecond), c.Tool.Round(10*time.Millisecond))
		for _, p := range c.Processes {
			fmt.Fprintf(tw, ", pid %d %v", p.PID, p.CPU.Round(10*time.Millisecond))
		}
		fmt.Fprintln(tw)
	}
	for _, ph := range rep.Memory {
		for _, p := range ph.Processes {
			fmt.Fprintf(tw, "rss %s\tpid %d\tfirst %d MiB, min %d, max %d, last %d (%d samples)\n",
				ph.Phase, p.PID, p.FirstKB>>10, p.MinKB>>10, p.MaxKB>>10, p.LastKB>>10, p.Samples)
		}
	}
	fmt.Fprintln(tw)
	for _, b := range rep.Bars {
		verdict := "PASS"
		if !b.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", verdict, b.Name, b.Target, b.Measured)
	}
	tw.Flush()
}
