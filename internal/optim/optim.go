// Package optim updates parameters from their gradients: Adam and SGD with momentum and
// Nesterov, both with L2 weight decay added to the gradient (torch.optim's weight_decay), and
// learning-rate schedules. Parameters and gradients are plain []float32 or []float64 slices,
// updated in place; the optimiser's state can be saved and restored exactly.
//
// Every value an update stores (parameter, moments, momentum buffer) is flushed to a zero of
// its sign when it would be subnormal (package ftz): weight decay shrinks parameters without
// a gradient geometrically, and once they and their moments are subnormal every operation
// on them costs a microcode assist, which slowed training several times over.
package optim

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/dmrnet/dmrnet/internal/ftz"
)

// Var is one parameter and its gradient, both []float32 or both []float64 of equal length.
type Var struct {
	Name  string
	Value any
	Grad  any
	// Decay applies weight decay to this parameter.
	Decay bool
}

// Slot is one named state slice of an optimiser ([]float32 or []float64), for checkpoints.
type Slot struct {
	Name string
	Data any
}

// Optimizer updates parameters in place.
type Optimizer interface {
	// Step applies one update with learning rate lr. vars must come in the same order, with
	// the same names and sizes, at every step.
	Step(vars []Var, lr float64) error
	// State returns the optimiser's state (step count and moment slices), aliasing it.
	State() (steps int64, slots []Slot)
	// SetState restores a state returned by State (copying the data).
	SetState(steps int64, slots []Slot) error
}

// Adam is torch.optim.Adam with L2 weight decay:
//
//	g = grad + wd * w
//	m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
//	w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//
// m and v are flushed (package ftz) before w's update uses them, and w after it. The
// products wd * w and g^2 count as 0 where they would be subnormal: a weight that decay
// brought just above the smallest normal number, and whose moments were flushed, stays there
// (its update is 0), and would otherwise make a subnormal number at every step.
type Adam struct {
	Beta1, Beta2, Eps, WeightDecay float64

	t    int64
	m, v map[string]any
}

// SGD is torch.optim.SGD with momentum, Nesterov and L2 weight decay:
//
//	g = grad + wd * w
//	b = momentum b + g          (b = g at the first step)
//	d = g + momentum b (Nesterov) or b
//	w = w - lr d
//
// b and w are flushed (package ftz) when stored.
type SGD struct {
	Momentum, WeightDecay float64
	Nesterov              bool

	t   int64
	buf map[string]any
}

type float interface{ ~float32 | ~float64 }

func zerosLike(v any) any {
	switch d := v.(type) {
	case []float32:
		return make([]float32, len(d))
	case []float64:
		return make([]float64, len(d))
	}
	panic(fmt.Sprintf("optim: unsupported parameter type %T", v))
}

// Step implements Optimizer.
func (a *Adam) Step(vars []Var, lr float64) error {
	if a.m == nil {
		a.m, a.v = map[string]any{}, map[string]any{}
	}
	a.t++
	bc1 := 1 - math.Pow(a.Beta1, float64(a.t))
	bc2 := 1 - math.Pow(a.Beta2, float64(a.t))
	for _, p := range vars {
		if _, ok := a.m[p.Name]; !ok {
			a.m[p.Name], a.v[p.Name] = zerosLike(p.Value), zerosLike(p.Value)
		}
	}
	return parallelVars(vars, func(p Var) error {
		wd := 0.0
		if p.Decay {
			wd = a.WeightDecay
		}
		switch w := p.Value.(type) {
		case []float32:
			return adamStep32(w, p.Grad, a.m[p.Name], a.v[p.Name], lr, a.Beta1, a.Beta2, a.Eps, wd, bc1, bc2, hasAdamKernel)
		case []float64:
			return adamStep(w, p.Grad, a.m[p.Name], a.v[p.Name], lr, a.Beta1, a.Beta2, a.Eps, wd, bc1, bc2)
		}
		return fmt.Errorf("optim: parameter %s has type %T", p.Name, p.Value)
	})
}

// parallelVars applies update to every parameter, splitting the parameters into
// GOMAXPROCS groups of about equal size that run concurrently (each parameter's update is
// independent, so the result does not depend on the split).
func parallelVars(vars []Var, update func(Var) error) error {
	workers := runtime.GOMAXPROCS(0)
	total := 0
	for _, p := range vars {
		total += size(p.Value)
	}
	if workers < 2 || total < 1<<20 { // small models lose more to the hand-off than they gain
		for _, p := range vars {
			if err := update(p); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		}
		return nil
	}
	errs := make([]error, len(vars))
	var wg sync.WaitGroup
	// contiguous groups of parameters holding about total/workers values each
	start, acc, group := 0, 0, 0
	for i, p := range vars {
		acc += size(p.Value)
		if acc*workers < total*(group+1) && i != len(vars)-1 {
			continue
		}
		lo, hi := start, i+1
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := lo; j < hi; j++ {
				errs[j] = update(vars[j])
			}
		}()
		start = i + 1
		group++
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", vars[i].Name, err)
		}
	}
	return nil
}

func size(v any) int {
	switch d := v.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	}
	return 0
}

func adamStep[T float](w []T, grad, mAny, vAny any, lr, b1, b2, eps, wd, bc1, bc2 float64) error {
	g, ok1 := grad.([]T)
	m, ok2 := mAny.([]T)
	v, ok3 := vAny.([]T)
	if !ok1 || !ok2 || !ok3 || len(g) != len(w) || len(m) != len(w) {
		return fmt.Errorf("optim: gradient or state does not match the parameter")
	}
	step := lr / bc1
	sbc2 := math.Sqrt(bc2)
	minW, minG := decayFloor(ftz.MinNormal64, wd), 0x1p-511 // see Adam
	for i := range w {
		gi := float64(g[i]) + wd*keepAbove(float64(w[i]), minW)
		m[i] = ftz.Flush(T(b1*float64(m[i]) + (1-b1)*gi))
		gs := keepAbove(gi, minG)
		v[i] = ftz.Flush(T(b2*float64(v[i]) + (1-b2)*gs*gs))
		mi, vi := float64(m[i]), float64(v[i])
		w[i] = ftz.Flush(T(float64(w[i]) - step*mi/(math.Sqrt(vi)/sbc2+eps)))
	}
	return nil
}

// adamStep32 is adamStep for float32 parameters computed in float32 (as torch.optim.Adam
// does for float32 parameters), on the AVX2/FMA kernel when kernel is set.
func adamStep32(w []float32, grad, mAny, vAny any, lr, b1, b2, eps, wd, bc1, bc2 float64, kernel bool) error {
	g, ok1 := grad.([]float32)
	m, ok2 := mAny.([]float32)
	v, ok3 := vAny.([]float32)
	if !ok1 || !ok2 || !ok3 || len(g) != len(w) || len(m) != len(w) || len(v) != len(w) {
		return fmt.Errorf("optim: gradient or state does not match the parameter")
	}
	step := float32(lr / bc1)
	isb2 := float32(1 / math.Sqrt(bc2))
	minW := float32(decayFloor(ftz.MinNormal32, float64(float32(wd))))
	n8 := 0
	if kernel && len(w) >= 8 {
		n8 = len(w) &^ 7
		k := [9]float32{float32(wd), float32(b1), float32(1 - b1), float32(b2), float32(1 - b2), -step, isb2, float32(eps), minW}
		adamAVX2(&w[0], &g[0], &m[0], &v[0], n8, &k)
	}
	fwd, fb1, fb2, feps := float32(wd), float32(b1), float32(b2), float32(eps)
	for i := n8; i < len(w); i++ {
		gi := g[i] + fwd*keepAbove(w[i], minW)
		m[i] = ftz.Flush32(fb1*m[i] + (1-fb1)*gi)
		gs := keepAbove(gi, 0x1p-63)
		v[i] = ftz.Flush32(fb2*v[i] + (1-fb2)*gs*gs)
		w[i] = ftz.Flush32(w[i] - step*m[i]/(float32(math.Sqrt(float64(v[i])))*isb2+feps))
	}
	return nil
}

// decayFloor is the magnitude below which a weight's decay term wd*w would be subnormal
// (minNormal is the type's smallest normal number); +Inf without decay.
func decayFloor(minNormal, wd float64) float64 {
	if wd == 0 {
		return math.Inf(1)
	}
	return minNormal / math.Abs(wd)
}

// keepAbove returns x, or 0 where |x| < floor (NaN is kept, as the kernel's compare keeps it).
func keepAbove[T float](x, floor T) T {
	if x < floor && x > -floor {
		return 0
	}
	return x
}

// State implements Optimizer.
func (a *Adam) State() (int64, []Slot) { return a.t, slots(a.m, "m", a.v, "v") }

// SetState implements Optimizer.
func (a *Adam) SetState(steps int64, s []Slot) error {
	a.t = steps
	a.m, a.v = map[string]any{}, map[string]any{}
	return restore(s, map[string]map[string]any{"m": a.m, "v": a.v})
}

// Step implements Optimizer.
func (s *SGD) Step(vars []Var, lr float64) error {
	if s.buf == nil {
		s.buf = map[string]any{}
	}
	s.t++
	for _, p := range vars {
		first := false
		if _, ok := s.buf[p.Name]; !ok && s.Momentum != 0 {
			s.buf[p.Name] = zerosLike(p.Value)
			first = true
		}
		wd := 0.0
		if p.Decay {
			wd = s.WeightDecay
		}
		var err error
		switch w := p.Value.(type) {
		case []float32:
			err = sgdStep(w, p.Grad, s.buf[p.Name], lr, s.Momentum, wd, s.Nesterov, first)
		case []float64:
			err = sgdStep(w, p.Grad, s.buf[p.Name], lr, s.Momentum, wd, s.Nesterov, first)
		default:
			err = fmt.Errorf("optim: parameter %s has type %T", p.Name, p.Value)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	return nil
}

func sgdStep[T float](w []T, grad, bufAny any, lr, mom, wd float64, nesterov, first bool) error {
	g, ok := grad.([]T)
	if !ok || len(g) != len(w) {
		return fmt.Errorf("optim: gradient does not match the parameter")
	}
	var b []T
	if mom != 0 {
		if b, ok = bufAny.([]T); !ok || len(b) != len(w) {
			return fmt.Errorf("optim: momentum buffer does not match the parameter")
		}
	}
	for i := range w {
		gi := float64(g[i]) + wd*float64(w[i])
		if mom != 0 {
			bi := gi
			if !first {
				bi = mom*float64(b[i]) + gi
			}
			b[i] = ftz.Flush(T(bi))
			if nesterov {
				gi += mom * bi
			} else {
				gi = bi
			}
		}
		w[i] = ftz.Flush(T(float64(w[i]) - lr*gi))
	}
	return nil
}

// State implements Optimizer.
func (s *SGD) State() (int64, []Slot) { return s.t, slots(s.buf, "momentum") }

// SetState implements Optimizer.
func (s *SGD) SetState(steps int64, sl []Slot) error {
	s.t = steps
	s.buf = map[string]any{}
	return restore(sl, map[string]map[string]any{"momentum": s.buf})
}

// slots flattens maps of per-parameter state into "kind/param" slots, sorted for stable output.
func slots(pairs ...any) []Slot {
	var out []Slot
	for i := 0; i < len(pairs); i += 2 {
		m, kind := pairs[i].(map[string]any), pairs[i+1].(string)
		for _, name := range sortedKeys(m) {
			out = append(out, Slot{Name: kind + "/" + name, Data: m[name]})
		}
	}
	return out
}

func restore(sl []Slot, dst map[string]map[string]any) error {
	for _, s := range sl {
		var kind, name string
		for i := 0; i < len(s.Name); i++ {
			if s.Name[i] == '/' {
				kind, name = s.Name[:i], s.Name[i+1:]
				break
			}
		}
		m, ok := dst[kind]
		if !ok {
			return fmt.Errorf("optim: unknown state slot %q", s.Name)
		}
		switch d := s.Data.(type) {
		case []float32:
			m[name] = append([]float32(nil), d...)
		case []float64:
			m[name] = append([]float64(nil), d...)
		default:
			return fmt.Errorf("optim: state slot %q has type %T", s.Name, s.Data)
		}
	}
	return nil
}
