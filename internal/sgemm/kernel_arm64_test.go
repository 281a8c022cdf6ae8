package sgemm

import "testing"

// TestNEONKernelInUse makes sure that on arm64 the products go through the NEON kernel, so
// that a run of this package's tests (natively or under qemu-aarch64, see
// scripts/test-arm64.sh) checks the assembly rather than silently the portable loop.
func TestNEONKernelInUse(t *testing.T) {
	if got := Kernel(); got != "neon" {
		t.Fatalf("kernel in use %q on arm64; want neon (the portable loop would be tested instead)", got)
	}
}
