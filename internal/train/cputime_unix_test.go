//go:build unix

package train

import (
	"syscall"
	"time"
)

// cpuTime is the user and system CPU time the process has used so far; the benchmarks
// report it per operation next to the wall-clock time.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
