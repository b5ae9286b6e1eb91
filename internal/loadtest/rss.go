package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// rssSampler samples the resident set size of processes while phases run.
type rssSampler struct {
	pids     []int
	interval time.Duration

	mu      sync.Mutex
	phase   string
	byPhase map[string]map[int]*RSSStats
	order   []string
}

// RSSStats summarises one process's RSS during one phase, in KiB.
type RSSStats struct {
	PID     int   `json:"pid"`
	Samples int   `json:"samples"`
	FirstKB int64 `json:"firstKiB"`
	MinKB   int64 `json:"minKiB"`
	MaxKB   int64 `json:"maxKiB"`
	LastKB  int64 `json:"lastKiB"`
}

func newRSSSampler(pids []int, interval time.Duration) *rssSampler {
	return &rssSampler{pids: pids, interval: interval, byPhase: map[string]map[int]*RSSStats{}}
}

// setPhase attributes the following samples to phase.
func (s *rssSampler) setPhase(phase string) {
	s.mu.Lock()
	s.phase = phase
	s.mu.Unlock()
	s.sample() // one sample at the start of every phase
}

// run samples until ctx is done.
func (s *rssSampler) run(ctx context.Context) {
	if len(s.pids) == 0 {
		return
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *rssSampler) sample() {
	for _, pid := range s.pids {
		kb, err := readRSS(pid)
		if err != nil {
			continue
		}
		s.mu.Lock()
		if s.phase != "" {
			m := s.byPhase[s.phase]
			if m == nil {
				m = map[int]*RSSStats{}
				s.byPhase[s.phase] = m
				s.order = append(s.order, s.phase)
			}
			st := m[pid]
			if st == nil {
				st = &RSSStats{PID: pid, FirstKB: kb, MinKB: kb}
				m[pid] = st
			}
			st.Samples++
			st.MinKB = min(st.MinKB, kb)
			st.MaxKB = max(st.MaxKB, kb)
			st.LastKB = kb
		}
		s.mu.Unlock()
	}
}

// report returns the statistics per phase in phase order.
func (s *rssSampler) report() []PhaseRSS {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PhaseRSS
	for _, ph := range s.order {
		pr := PhaseRSS{Phase: ph}
		for _, pid := range s.pids {
			if st := s.byPhase[ph][pid]; st != nil {
				pr.Processes = append(pr.Processes, *st)
			}
		}
		out = append(out, pr)
	}
	return out
}

// PhaseRSS is the RSS of every sampled process during one phase.
type PhaseRSS struct {
	Phase     string     `json:"phase"`
	Processes []RSSStats `json:"processes"`
}

// readRSS returns VmRSS of pid in KiB from /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(string(f[0]), 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
