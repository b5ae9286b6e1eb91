//go:build !linux

package covenant

import "time"

func threadCPUTime() (time.Duration, bool) { return 0, false }
