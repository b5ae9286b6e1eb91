//go:build !linux

package ccl

import "time"

func threadCPUTime() (time.Duration, bool) { return 0, false }
