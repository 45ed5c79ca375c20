//go:build unix

package detector

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the test process has used. On
// a shared machine a benchmark's ns/op is wall time and grows with the
// other processes' load; CPU time per sample is what one core costs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
