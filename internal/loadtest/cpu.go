package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on Linux).
const clockTick = 10 * time.Millisecond

// PhaseCPU is the CPU time each sampled process, and this tool, used during
// one phase.
type PhaseCPU struct {
	Phase     string        `json:"phase"`
	Elapsed   time.Duration `json:"elapsedNs"`
	Tool      time.Duration `json:"toolCpuNs"`
	Processes []ProcessCPU  `json:"processes"`
	// Machine is the CPU time all processes of the machine used (from
	// /proc/stat); Machine − Tool − Processes is what other work took.
	Machine time.Duration `json:"machineCpuNs"`
	// Steal is the CPU time the hypervisor gave other guests while this
	// machine wanted it (/proc/stat steal): on a shared virtual machine,
	// capacity the phase lost.
	Steal time.Duration `json:"stealNs"`
}

// ProcessCPU is one process's CPU time (user + system) during a phase.
type ProcessCPU struct {
	PID int           `json:"pid"`
	CPU time.Duration `json:"cpuNs"`
}

// cpuMark is the CPU time of processes at one instant.
type cpuMark struct {
	at      time.Time
	self    time.Duration
	machine time.Duration
	steal   time.Duration
	pids    []int
	cpu     []time.Duration // -1: unreadable
}

func markCPU(pids []int) cpuMark {
	m := cpuMark{at: time.Now(), pids: pids, cpu: make([]time.Duration, len(pids))}
	m.self, _ = readCPU(os.Getpid())
	m.machine, m.steal, _ = machineBusy()
	for i, pid := range pids {
		c, err := readCPU(pid)
		if err != nil {
			c = -1
		}
		m.cpu[i] = c
	}
	return m
}

// since returns the CPU used since m.
func (m cpuMark) since(phase string) PhaseCPU {
	now := markCPU(m.pids)
	out := PhaseCPU{Phase: phase, Elapsed: now.at.Sub(m.at), Tool: now.self - m.self, Machine: now.machine - m.machine, Steal: now.steal - m.steal}
	for i, pid := range m.pids {
		if m.cpu[i] < 0 || now.cpu[i] < 0 {
			continue
		}
		out.Processes = append(out.Processes, ProcessCPU{PID: pid, CPU: now.cpu[i] - m.cpu[i]})
	}
	return out
}

// readCPU returns utime + stime of pid from /proc/<pid>/stat.
func readCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after
	// its closing parenthesis: state is field 3, utime 14, stime 15.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("pid %d: malformed stat", pid)
	}
	f := bytes.Fields(data[end+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pid %d: malformed stat times", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Foreign is the CPU time other processes used during the phase.
func (c PhaseCPU) Foreign() time.Duration {
	d := c.Machine - c.Tool
	for _, p := range c.Processes {
		d -= p.CPU
	}
	return max(d, 0)
}

// machineBusy returns the CPU time the machine spent outside idle and
// iowait since boot, and the time stolen by the hypervisor (the first line
// of /proc/stat).
func machineBusy() (busy, steal time.Duration, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks [8]int64 // user nice system idle iowait irq softirq steal
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(string(f[1+i]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	b := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
	return time.Duration(b) * clockTick, time.Duration(ticks[7]) * clockTick, nil
}
