//go:build !unix

package train

import "time"

// cpuTime reports no CPU time where getrusage is missing: the benchmarks then leave the
// cpu-ms/op metric out.
func cpuTime() (time.Duration, bool) { return 0, false }
