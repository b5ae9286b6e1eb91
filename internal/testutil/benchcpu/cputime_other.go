//go:build !linux

package benchcpu

import "time"

func threadCPUTime() (time.Duration, bool) { return 0, false }
