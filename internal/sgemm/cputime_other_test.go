//go:build !unix

package sgemm

import "time"

// cpuTime is 0 where the process's CPU time is not read: BenchmarkGEMM then reports only
// wall-clock GFLOP/s.
func cpuTime() time.Duration { return 0 }
