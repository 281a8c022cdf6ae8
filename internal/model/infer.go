package model

import (
	"fmt"
	"math"
	"runtime"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/sgemm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the cached-encoder inference path. Evaluating every modality combination
// with the EvalGraph runs the encoders once per combination, although in evaluation mode
// (BatchNorm with running statistics, z = mu) a modality's encoder output depends on the
// sample's input alone: not on which other modalities are present (the mask enters only the
// fusion after the encoders) and not on the other samples of the batch (checked for both
// fused encoder kinds: the dense stack's GEMM sums every output element over k in the same
// order whatever the number of rows, and the conv stack works sample by sample, see
// convForward). So Inference runs the encoders once per sample (Encode), and the rest of the
// network (masked fusion, mu and logvar heads, classifier, auxiliary heads) in plain Go for as
// many combinations as wanted (Heads), with bitwise the same results as EvalGraph.Forward.
//
// The fused representation h = [mask_0 e_0, ..., mask_{M-1} e_{M-1}] has zeros where a
// modality is absent, and the mu/logvar product h W skips them exactly: both GEMMs sum each
// element of the product as a chain starting from +0 (float32: internal/sgemm's assembly
// kernels in passes of sgemm.PassDepth columns of h, each pass's chain added to the previous
// passes' sum, its portable loop in one chain; float64: gonum's Dgemm, one chain in which zero terms are skipped), and a term 0*w with a
// finite w leaves such a chain unchanged (the chain is never -0: round-to-nearest adds +0 and
// -0 to +0). Heads therefore computes, per pass, one chain per distinct subset of the pass's
// modalities that the requested combinations contain, over the present columns only, and
// shares it between the combinations (with six 64-wide modalities: 18 partial products
// instead of 63 full ones). When a weight of the mu or logvar head is not finite (0*Inf is
// NaN) it falls back to one full-width product per combination and pass, absent columns zero.

// headBudget bounds the partial products Heads keeps at once (elements); rows are processed in
// chunks that fit.
const headBudget = 1 << 22

// CachedInference returns nil when the model supports Inference, else why it does not: the
// reference build (Spec.Reference) computes with Gorgonia's own ops, whose results are not
// known to be independent of the rest of the batch, so it keeps the EvalGraph.
func (m *Model) CachedInference() error {
	if m.spec.Reference {
		return fmt.Errorf("model: the reference build has no cached-encoder inference (its Gorgonia ops are not known to compute each sample independently of the batch)")
	}
	for _, ms := range m.spec.Modalities {
		if ms.Absent {
			// a specialist's model: its mu/logvar heads hold only the present modalities'
			// rows, which Heads does not lay out; such models are small, the graph serves them
			return fmt.Errorf("model: modality %q is absent (a specialist's model): no cached-encoder inference", ms.Name)
		}
	}
	return nil
}

// Inference is the evaluation-mode forward pass split in two: Encode runs the encoders (a
// Gorgonia graph for batches of up to BatchSize samples) once per sample, Heads computes the
// outputs of any number of modality combinations from the cached encoder outputs in plain Go,
// reusing its buffers from call to call. Its results are bitwise those of EvalGraph.Forward.
// An Inference is not safe for concurrent use.
type Inference struct {
	m     *Model
	n     int
	vm    G.VM
	xs    []*tensor.Dense
	rFeat []G.Value
	// heads is the *headBufs[T] of the model's dtype.
	heads any
	// budget is headBudget, lowered by tests to exercise the chunking.
	budget int
}

// NewInference builds the encoders' graph for batches of up to n samples. It fails for models
// that CachedInference rejects.
func (m *Model) NewInference(n int) (*Inference, error) {
	if n < 1 {
		return nil, fmt.Errorf("model: evaluation batch of %d samples", n)
	}
	if err := m.CachedInference(); err != nil {
		return nil, err
	}
	b := newBuilder(m, false)
	inf := &Inference{m: m, n: n, rFeat: make([]G.Value, len(m.encoders)), budget: headBudget}
	for i, enc := range m.encoders {
		ms := m.spec.Modalities[i]
		x, xt := b.input("x."+ms.Name, n, ms.InputSize())
		inf.xs = append(inf.xs, xt)
		f, err := enc.build(b, x)
		if err != nil {
			return nil, err
		}
		G.Read(f, &inf.rFeat[i])
	}
	inf.vm = G.NewTapeMachine(b.g)
	return inf, nil
}

// BatchSize is the number of samples one run of the encoders' graph takes.
func (inf *Inference) BatchSize() int { return inf.n }

// Features holds the encoder outputs of a list of samples, in the model's dtype, and, with
// auxiliary heads, each modality's auxiliary logits. Encode fills it; its buffers are reused.
type Features struct {
	rows int
	f32  [][]float32
	f64  [][]float64
	aux  [][]float64
}

// Len is the number of samples.
func (f *Features) Len() int { return f.rows }

// Reset empties f, keeping its buffers.
func (f *Features) Reset() {
	f.rows = 0
	f.f32 = truncRows(f.f32)
	f.f64 = truncRows(f.f64)
	f.aux = truncRows(f.aux)
}

// Append adds the rows of g (encoded by the same model) after those of f, so that inputs
// that arrive in batches can be encoded batch by batch into one Features.
func (f *Features) Append(g *Features) {
	f.rows += g.rows
	f.f32 = appendRows(f.f32, g.f32)
	f.f64 = appendRows(f.f64, g.f64)
	f.aux = appendRows(f.aux, g.aux)
}

func truncRows[T any](s [][]T) [][]T {
	for i := range s {
		s[i] = s[i][:0]
	}
	return s
}

func appendRows[T any](dst, src [][]T) [][]T {
	for len(dst) < len(src) {
		dst = append(dst, nil)
	}
	for i := range src {
		dst[i] = append(dst[i], src[i]...)
	}
	return dst
}

// Aux returns every modality's auxiliary logits, row-major (Len, classes) per modality, as
// EvalGraph.Forward returns them in Output.Aux; nil without auxiliary heads.
func (f *Features) Aux() [][]float64 { return f.aux }

// Encode runs the encoders on the samples idx of x, where x[m] holds modality m row-major
// (one row of the modality's input size per sample), and stores their outputs in f as rows
// 0..len(idx)-1. The inputs of modalities a sample lacks are encoded like the others: Heads
// masks them.
func (inf *Inference) Encode(x [][]float32, idx []int, f *Features) error {
	m := inf.m
	if len(x) != len(m.encoders) {
		return fmt.Errorf("model: %d modalities of inputs, model %d", len(x), len(m.encoders))
	}
	for i, ms := range m.spec.Modalities {
		size := ms.InputSize()
		have := len(x[i]) / size
		for _, j := range idx {
			if j < 0 || j >= have {
				return fmt.Errorf("model: modality %q: sample %d of %d", ms.Name, j, have)
			}
		}
	}
	var err error
	switch m.spec.DType {
	case tensor.Float32:
		f.f32, err = encode(inf, x, idx, f.f32)
		if err == nil && m.HasAux() {
			f.aux = auxLogits(inf, f.f32, len(idx), f.aux)
		}
	case tensor.Float64:
		f.f64, err = encode(inf, x, idx, f.f64)
		if err == nil && m.HasAux() {
			f.aux = auxLogits(inf, f.f64, len(idx), f.aux)
		}
	default:
		return fmt.Errorf("model: unsupported dtype %v", m.spec.DType)
	}
	if err != nil {
		return err
	}
	f.rows = len(idx)
	return nil
}

// encode runs the encoders' graph on idx in batches, zero-padding the last one as
// EvalGraph.Forward does, and copies the features out.
func encode[T float](inf *Inference, x [][]float32, idx []int, feats [][]T) ([][]T, error) {
	m := inf.m
	if len(feats) != len(m.encoders) {
		feats = make([][]T, len(m.encoders))
	}
	for i, e := range m.encoders {
		resize(&feats[i], len(idx)*e.OutDim())
	}
	for lo := 0; lo < len(idx); lo += inf.n {
		rows := idx[lo:min(lo+inf.n, len(idx))]
		for i, ms := range m.spec.Modalities {
			size := ms.InputSize()
			d := inf.xs[i].Data().([]T)
			for r, j := range rows {
				dst := d[r*size : (r+1)*size]
				for k, v := range x[i][j*size : (j+1)*size] {
					dst[k] = T(v)
				}
			}
			clear(d[len(rows)*size:])
		}
		err := inf.vm.RunAll()
		inf.vm.Reset()
		if err != nil {
			return feats, fmt.Errorf("model: encoders: %w", err)
		}
		for i, e := range m.encoders {
			w := e.OutDim()
			src := inf.rFeat[i].Data().([]T)
			copy(feats[i][lo*w:(lo+len(rows))*w], src[:len(rows)*w])
		}
	}
	return feats, nil
}

// auxLogits computes every modality's auxiliary head on rows samples' features, as the
// aux.<name> dense stacks of the EvalGraph do (x W + b, no activation).
func auxLogits[T float](inf *Inference, feats [][]T, rows int, aux [][]float64) [][]float64 {
	m := inf.m
	hb := buffers[T](inf)
	c := m.spec.Classes
	if len(aux) != len(m.encoders) {
		aux = make([][]float64, len(m.encoders))
	}
	for i, ms := range m.spec.Modalities {
		w := m.byName["aux."+ms.Name+".W"].value.Data().([]T)
		b := m.byName["aux."+ms.Name+".b"].value.Data().([]T)
		z := hb.s.get(0, rows*c)
		gemm(z, feats[i], w, rows, m.encoders[i].OutDim(), c, false, false, false, &hb.s)
		for r := 0; r < rows; r++ {
			row := z[r*c : (r+1)*c]
			for j := range row {
				row[j] += b[j]
			}
		}
		resize(&aux[i], rows*c)
		for j, v := range z {
			aux[i][j] = float64(v)
		}
	}
	return aux
}

// HeadOutput is Heads' result for one combination over its rows.
type HeadOutput struct {
	// Logits is row-major (rows, classes), as Output.Logits.
	Logits []float64
	// Var is the mean predicted variance sigma^2 per row (0 without PME), as Output.Var;
	// empty unless Heads was asked for it.
	Var []float64
}

// Heads computes the outputs of the combinations sets[k] over the rows rows[k] of f
// (ascending row numbers of f; a sample of a combination should have its modalities, others
// get whatever their inputs give), into out[k], reusing out[k]'s slices. The auxiliary logits
// are f.Aux(), per row of f. The logits do not depend on the logvar head: only withVar
// computes it and the variances (half of the work of a model with PME).
func (inf *Inference) Heads(f *Features, sets []combo.Set, rows [][]int, out []HeadOutput, withVar bool) error {
	if len(rows) != len(sets) || len(out) != len(sets) {
		return fmt.Errorf("model: %d combinations, %d row lists and %d outputs", len(sets), len(rows), len(out))
	}
	full := combo.Full(len(inf.m.encoders))
	for k, s := range sets {
		if s == 0 || s&^full != 0 {
			return fmt.Errorf("model: combination %b of a model with %d modalities", s, len(inf.m.encoders))
		}
		prev := -1
		for _, r := range rows[k] {
			if r <= prev || r >= f.rows {
				return fmt.Errorf("model: rows of a combination must ascend within the %d samples (row %d after %d)", f.rows, r, prev)
			}
			prev = r
		}
	}
	switch inf.m.spec.DType {
	case tensor.Float32:
		heads(inf, f.f32, f.rows, sets, rows, out, withVar)
	case tensor.Float64:
		heads(inf, f.f64, f.rows, sets, rows, out, withVar)
	default:
		return fmt.Errorf("model: unsupported dtype %v", inf.m.spec.DType)
	}
	return nil
}

// partKey names one partial product: the chain of pass over the columns of the modalities of
// set (sparse), or over all the pass's columns with the modalities outside set zeroed (dense).
type partKey struct {
	pass  int
	set   combo.Set
	dense bool
}

// headBufs are Heads' reusable buffers.
type headBufs[T float] struct {
	s            scratch[T]
	wc           []T // (F, H): the mu head's weights, then the logvar head's, side by side
	scale, shift []T // (H): evaluation BatchNorm of both heads
	keyIdx       map[partKey]int
	keys         []partKey
	cols         [][]int // per key, the columns of h it sums over
	wk           [][]T   // per key, the rows of wc at cols
	part         []T     // per key, (rows of the chunk, H) partial products
	a            []T
	parts        []int // per combination and pass, the key index (-1: no column present)
	cur          []int
	h, mu, lg    []T
	colMod       []int // modality of each column of h
}

func buffers[T float](inf *Inference) *headBufs[T] {
	hb, _ := inf.heads.(*headBufs[T])
	if hb == nil {
		hb = &headBufs[T]{keyIdx: map[partKey]int{}}
		inf.heads = hb
	}
	hb.s.workers = runtime.GOMAXPROCS(0) // speed only: the products' bits do not depend on it
	return hb
}

// heads is Heads for dtype T: per chunk of rows, the partial products of every key, then per
// combination the sum of its passes' partials, BatchNorm, the classifier and the variance.
func heads[T float](inf *Inference, feats [][]T, n int, sets []combo.Set, rows [][]int, out []HeadOutput, withVar bool) {
	m := inf.m
	hb := buffers[T](inf)
	dims := m.EncoderDims()
	off := make([]int, len(dims)+1)
	for i, d := range dims {
		off[i+1] = off[i] + d
	}
	F, Z, C := m.featDim, m.spec.Latent, m.spec.Classes
	lv := m.spec.PME && withVar
	H := Z
	if lv {
		H = 2 * Z
	}
	wmu := m.byName["mu.W"].value.Data().([]T)
	resize(&hb.wc, F*H)
	for k := 0; k < F; k++ {
		copy(hb.wc[k*H:k*H+Z], wmu[k*Z:(k+1)*Z])
	}
	resize(&hb.scale, H)
	resize(&hb.shift, H)
	bnCoefs := func(name string, lo int) {
		bnEvalCoefs(hb.scale[lo:lo+Z], hb.shift[lo:lo+Z], m.byName[name+".bn.gamma"].value.Data().([]T),
			m.byName[name+".bn.beta"].value.Data().([]T), m.byName[name+".b"].value.Data().([]T), m.bnByName[name+".bn"])
	}
	bnCoefs("mu", 0)
	if lv {
		wlv := m.byName["logvar.W"].value.Data().([]T)
		for k := 0; k < F; k++ {
			copy(hb.wc[k*H+Z:(k+1)*H], wlv[k*Z:(k+1)*Z])
		}
		bnCoefs("logvar", Z)
	}
	sparse := true
	for _, v := range hb.wc {
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			sparse = false
			break
		}
	}
	depth := F
	if _, f32 := any(hb.wc).([]float32); f32 && sgemm.SumsInPasses() {
		depth = sgemm.PassDepth
	}
	np := (F + depth - 1) / depth
	resize(&hb.colMod, F)
	for i := range dims {
		for c := off[i]; c < off[i+1]; c++ {
			hb.colMod[c] = i
		}
	}

	// the partial products the combinations need, each once
	clear(hb.keyIdx)
	hb.keys, hb.cols, hb.wk = hb.keys[:0], hb.cols[:0], hb.wk[:0]
	resize(&hb.parts, len(sets)*np)
	for k, s := range sets {
		for p := 0; p < np; p++ {
			lo, hi := p*depth, min(F, (p+1)*depth)
			key := partKey{pass: p, set: s, dense: !sparse}
			if sparse {
				key.set = 0
				for i := range dims {
					if s.Has(i) && off[i] < hi && off[i+1] > lo {
						key.set |= 1 << uint(i)
					}
				}
				if key.set == 0 {
					hb.parts[k*np+p] = -1
					continue
				}
			}
			ki, ok := hb.keyIdx[key]
			if !ok {
				ki = len(hb.keys)
				hb.keyIdx[key] = ki
				hb.keys = append(hb.keys, key)
				if ki == len(hb.cols) {
					hb.cols = append(hb.cols, nil)
					hb.wk = append(hb.wk, nil)
				}
				hb.cols[ki] = hb.cols[ki][:0]
				for c := lo; c < hi; c++ {
					if !sparse || key.set.Has(hb.colMod[c]) {
						hb.cols[ki] = append(hb.cols[ki], c)
					}
				}
				resize(&hb.wk[ki], len(hb.cols[ki])*H)
				for j, c := range hb.cols[ki] {
					copy(hb.wk[ki][j*H:(j+1)*H], hb.wc[c*H:(c+1)*H])
				}
			}
			hb.parts[k*np+p] = ki
		}
	}

	nk := len(hb.keys)
	chunk := max(1, min(n, inf.budget/max(1, nk*H)))
	resize(&hb.part, nk*min(chunk, n)*H)
	resize(&hb.cur, len(sets))
	clear(hb.cur)
	for k := range out {
		resize(&out[k].Logits, len(rows[k])*C)
		out[k].Var = out[k].Var[:0]
		if withVar {
			resize(&out[k].Var, len(rows[k]))
		}
	}
	wcls := m.byName["cls.W"].value.Data().([]T)
	bcls := m.byName["cls.b"].value.Data().([]T)
	for r0 := 0; r0 < n; r0 += chunk {
		r1 := min(n, r0+chunk)
		rr := r1 - r0
		for ki, key := range hb.keys {
			cols := hb.cols[ki]
			kk := len(cols)
			resize(&hb.a, rr*kk)
			for r := 0; r < rr; r++ {
				dst := hb.a[r*kk : (r+1)*kk]
				// cols ascend: copy them in runs within one modality
				for j := 0; j < kk; {
					c, mi := cols[j], hb.colMod[cols[j]]
					run := 1
					for j+run < kk && cols[j+run] == c+run && cols[j+run] < off[mi+1] {
						run++
					}
					if key.dense && !key.set.Has(mi) {
						clear(dst[j : j+run])
					} else {
						src := feats[mi][(r0+r)*dims[mi]+c-off[mi]:]
						copy(dst[j:j+run], src[:run])
					}
					j += run
				}
			}
			gemm(hb.part[ki*chunk*H:ki*chunk*H+rr*H], hb.a, hb.wk[ki], rr, kk, H, false, false, false, &hb.s)
		}
		for k := range sets {
			lo := hb.cur[k]
			hi := lo
			for hi < len(rows[k]) && rows[k][hi] < r1 {
				hi++
			}
			hb.cur[k] = hi
			cnt := hi - lo
			if cnt == 0 {
				continue
			}
			resize(&hb.h, cnt*H)
			for t, i := range rows[k][lo:hi] {
				dst := hb.h[t*H : (t+1)*H]
				first := true
				for p := 0; p < np; p++ {
					ki := hb.parts[k*np+p]
					if ki < 0 {
						continue
					}
					src := hb.part[ki*chunk*H+(i-r0)*H : ki*chunk*H+(i-r0+1)*H]
					if first {
						copy(dst, src)
						first = false
						continue
					}
					dst := dst[:len(src)]
					for j, v := range src {
						dst[j] += v
					}
				}
			}
			bnEvalApply(hb.h, hb.scale, hb.shift, cnt, H)
			mu := hb.h[:cnt*Z]
			if lv {
				resize(&hb.mu, cnt*Z)
				for t := 0; t < cnt; t++ {
					copy(hb.mu[t*Z:(t+1)*Z], hb.h[t*H:t*H+Z])
				}
				mu = hb.mu
			}
			resize(&hb.lg, cnt*C)
			gemm(hb.lg, mu, wcls, cnt, Z, C, false, false, false, &hb.s)
			logits := out[k].Logits[lo*C : hi*C]
			for t := 0; t < cnt; t++ {
				row := hb.lg[t*C : (t+1)*C]
				for j := range row {
					row[j] += bcls[j]
				}
				for j, v := range row {
					logits[t*C+j] = float64(v)
				}
				if !withVar {
					continue
				}
				vr := 0.0
				if lv {
					for _, v := range hb.h[t*H+Z : (t+1)*H] {
						vr += math.Exp(float64(v))
					}
					vr /= float64(Z)
				}
				out[k].Var[lo+t] = vr
			}
		}
	}
}

// resize sets *p to n elements, reusing its array when large enough (contents unspecified).
func resize[T any](p *[]T, n int) {
	if cap(*p) < n {
		*p = make([]T, n)
	}
	*p = (*p)[:n]
}
