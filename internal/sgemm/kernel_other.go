//go:build !amd64

package sgemm

// archKernels is empty: this architecture has no assembly micro-kernel yet, and products run
// on the portable Go loop. An architecture that gets one gives it its own file defining
// archKernels (a 6x16 NEON kernel on arm64: {name: "neon", mr: 6, nr: 16, fn: kernel6x16,
// runs: true, need: "ASIMD"}) and is excluded from this file's build constraint.
var archKernels []microKernel
