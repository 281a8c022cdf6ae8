package sgemm

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// EnvKernel is the environment variable that chooses the micro-kernel when the package is
// loaded: "auto" (or unset, or empty) picks the fastest one this CPU runs; "portable",
// "avx2", "avx512" (amd64) or "neon" (arm64) force one, so that a benchmark can show how the
// code does on a machine without the faster instructions. Naming a kernel this CPU cannot run,
// or an unknown one, is an error: Kernel, Mul and MulPackB panic with it, unless Use replaced
// the setting (the dmrnet command does so at startup and reports a bad value as its error).
const EnvKernel = "DMRNET_GEMM_KERNEL"

// microKernel describes one way of computing the products: a Go-assembly micro-kernel fn,
// which computes an mr x nr tile of c from an mr-row panel of op(a) and an nr-column panel of
// op(b) (see kernel6x16 in kernel_amd64.s for the contract), or, when fn is nil, the portable
// Go loop (nr is then the width of the panels MulPackB asks its packer for).
type microKernel struct {
	name   string
	mr, nr int
	fn     func(k int, a, b, c *float32, ldc int, acc bool)
	// runs reports whether this CPU and its operating system support the instructions that
	// need names.
	runs bool
	need string
	// narrow, when not nil, is the kernel that computes the products of at most narrow.nr
	// columns instead, as a wide tile would compute mostly padding there.
	narrow *microKernel
}

// forWidth returns the kernel that computes products of n columns: k, or its narrow kernel.
func (k *microKernel) forWidth(n int) *microKernel {
	if k.narrow != nil && n <= k.narrow.nr {
		return k.narrow
	}
	return k
}

// portableKernel is the product without assembly; every CPU runs it.
var portableKernel = &microKernel{name: "portable", mr: 1, nr: 16, runs: true, need: "nothing"}

// kernels returns the kernels this architecture knows, fastest first, portable last.
func kernels() []*microKernel {
	ks := make([]*microKernel, 0, len(archKernels)+1)
	for i := range archKernels {
		ks = append(ks, &archKernels[i])
	}
	return append(ks, portableKernel)
}

// selection is the kernel in use, or why the one EnvKernel names cannot be used.
type selection struct {
	kern *microKernel
	err  error
}

// selected is the package's CPU-feature dispatch: set from EnvKernel at load, replaced by Use.
var selected atomic.Pointer[selection]

func init() { selected.Store(fromEnv(os.Getenv(EnvKernel))) }

// fromEnv is the selection of the value v of EnvKernel.
func fromEnv(v string) *selection {
	k, err := lookup(v)
	if err != nil {
		return &selection{err: fmt.Errorf("sgemm: %s=%s: %w", EnvKernel, v, err)}
	}
	return &selection{kern: k}
}

// lookup returns the kernel called name ("" and "auto": the first this CPU runs).
func lookup(name string) (*microKernel, error) { return lookupIn(kernels(), name) }

// lookupIn returns the kernel of ks called name ("" and "auto": the first that runs).
func lookupIn(ks []*microKernel, name string) (*microKernel, error) {
	var runnable, known []string
	for _, k := range ks {
		known = append(known, k.name)
		if k.runs {
			runnable = append(runnable, k.name)
		}
	}
	for _, k := range ks {
		switch {
		case (name == "" || name == "auto") && k.runs:
			return k, nil
		case k.name != name:
		case !k.runs:
			return nil, fmt.Errorf("this CPU lacks %s, which the %s GEMM kernel needs (use auto, %s)", k.need, k.name, orList(runnable))
		default:
			return k, nil
		}
	}
	return nil, fmt.Errorf("unknown GEMM kernel %q (use auto, %s)", name, orList(known))
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Use makes the kernel called name the one every later product runs on: "auto" or "" picks the
// fastest this CPU supports, "portable", "avx2", "avx512" (amd64) or "neon" (arm64) force one.
// It returns an error, and changes nothing, for an unknown name or a kernel the CPU cannot
// run. Use replaces the setting read from EnvKernel; call it before any product starts, as
// products running at the time may use either kernel. The kernels round differently, so a
// run's bits depend on the kernel (never on the number of workers).
func Use(name string) error {
	k, err := lookup(name)
	if err != nil {
		return err
	}
	selected.Store(&selection{kern: k})
	return nil
}

// Kernel names the kernel in use: "avx512", "avx2", "neon" or "portable". It panics when
// EnvKernel names a kernel that cannot be used (see EnvKernel).
func Kernel() string { return active().name }

// PassDepth is the depth of one pass over k: every assembly kernel sums each element of a
// product as one chain of fused multiply-adds per pass of PassDepth columns of op(a) (the
// last pass shorter), starting from +0, and adds the passes' chains in increasing k.
// Callers that reproduce a product's bits from partial products (internal/model's
// inference path) rely on this structure.
const PassDepth = kc

// SumsInPasses reports whether the kernel in use sums in passes of PassDepth (every assembly
// kernel) rather than in one chain of separate multiplies and adds over all of k (the
// portable loop).
func SumsInPasses() bool { return active() != portableKernel }

// active returns the kernel in use, panicking with the error of a bad EnvKernel.
func active() *microKernel {
	s := selected.Load()
	if s.err != nil {
		panic(s.err)
	}
	return s.kern
}
