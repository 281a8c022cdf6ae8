package dataset

import (
	"fmt"
	"math"
	"sync"

	"github.com/dmrnet/dmrnet/internal/audio"
	"github.com/dmrnet/dmrnet/internal/combo"
)

// DefaultPrefetch is the number of batches a streamed split decodes ahead of the one being
// used when StreamOptions.Prefetch is 0.
const DefaultPrefetch = 4

// normChunk is the number of samples a streamed split decodes at a time when it computes
// standardisation statistics.
const normChunk = 256

// StreamOptions set how a streamed data set decodes its samples.
type StreamOptions struct {
	// Prefetch is the number of batches decoded ahead of the one in use (0: DefaultPrefetch).
	// It bounds the memory of the decoded data: Prefetch + 1 batches, whatever the size of
	// the data set.
	Prefetch int
}

// stream backs a split whose samples stay on disk: sample i is row rows[i] of the manifest,
// decoded when a batch needs it.
type stream struct {
	src  *manifestSource
	rows []int
}

// manifestSource decodes the samples of a manifest on demand. The splits of one data set
// share it, and with it the standardisation of their modalities.
type manifestSource struct {
	spec     ManifestSpec
	rows     []manifestRow
	mods     []Modality
	prefetch int
	// norms[m], when not nil, standardises modality m after decoding (see Standardize).
	norms []*Norm
}

// StreamManifest reads a manifest like LoadManifest, but decodes no file: the splits keep
// the manifest rows (paths, labels, which modalities each sample has) and decode the files
// of a batch when it is drawn (Split.Batches), a few batches ahead, so that memory does not
// grow with the number of samples. Standardisation statistics are computed in a streaming
// pass (Standardize); decoding errors read exactly as LoadManifest's.
func StreamManifest(spec ManifestSpec, opt StreamOptions) (*Dataset, []StandardizeSpec, error) {
	if opt.Prefetch < 0 {
		return nil, nil, fmt.Errorf("stream %s: prefetch %d is negative", spec.Path, opt.Prefetch)
	}
	rows, classes, err := readManifest(spec)
	if err != nil {
		return nil, nil, err
	}
	d, all := manifestDataset(spec, rows, classes)
	src := &manifestSource{spec: spec, rows: rows, mods: d.Modalities, prefetch: opt.Prefetch, norms: make([]*Norm, len(d.Modalities))}
	if src.prefetch == 0 {
		src.prefetch = DefaultPrefetch
	}
	all.stream = &stream{src: src, rows: make([]int, len(rows))}
	for i := range rows {
		all.stream.rows[i] = i
	}
	if err := splitManifest(spec, d, all, rows); err != nil {
		return nil, nil, err
	}
	return d, manifestStandardize(spec), nil
}

// Streamed reports whether the split's samples stay on disk (StreamManifest) rather than
// in X.
func (s *Split) Streamed() bool { return s.stream != nil }

// Gather writes the samples idx of the split into x (grown as needed): x[m] receives modality
// m of sample idx[i] at row i. A streamed split decodes the files in parallel, leaves the
// modalities a sample lacks at zero and standardises as the data set does.
func (s *Split) Gather(mods []Modality, idx []int, x [][]float32) ([][]float32, error) {
	if len(x) < len(mods) {
		x = append(x, make([][]float32, len(mods)-len(x))...)
	}
	if s.stream == nil {
		for m, mod := range mods {
			x[m] = Gather(s.X[m], mod.Size(), idx, x[m])
		}
		return x, nil
	}
	return s.stream.decode(idx, combo.Full(len(mods)), x)
}

// decode writes the modalities need of samples idx into x (see Split.Gather).
func (st *stream) decode(idx []int, need combo.Set, x [][]float32) ([][]float32, error) {
	src := st.src
	for m, mod := range src.mods {
		n := len(idx) * mod.Size()
		if cap(x[m]) < n {
			x[m] = make([]float32, n)
		}
		x[m] = x[m][:n]
		clear(x[m])
	}
	type job struct{ i, m int }
	var jobs []job
	for i, j := range idx {
		r := src.rows[st.rows[j]]
		for m, f := range r.files {
			if f != "" && need.Has(m) {
				jobs = append(jobs, job{i, m})
			}
		}
	}
	err := parallel(len(jobs), func(k int, ex map[int]*audio.Extractor) error {
		jb := jobs[k]
		r := src.rows[st.rows[idx[jb.i]]]
		size := src.mods[jb.m].Size()
		dst := x[jb.m][jb.i*size : (jb.i+1)*size]
		if err := decodeFile(r.files[jb.m], src.spec.Modalities[jb.m], dst, ex, jb.m); err != nil {
			return src.spec.fileError(r, jb.m, err)
		}
		for e, v := range dst {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return src.spec.fileError(r, jb.m, fmt.Errorf("value %d is %v (clean or impute the data)", e, v))
			}
		}
		if n := src.norms[jb.m]; n != nil {
			n.Apply(dst)
		}
		return nil
	}, func() map[int]*audio.Extractor { return map[int]*audio.Extractor{} })
	if err != nil {
		return x, invalidf("%v", err)
	}
	return x, nil
}

// Materialize returns the split held in memory: a streamed split decodes every sample
// (memory grows with the split), an in-memory split is returned as it is.
func (s *Split) Materialize(mods []Modality) (*Split, error) {
	if s.stream == nil {
		return s, nil
	}
	idx := make([]int, s.Len())
	for i := range idx {
		idx[i] = i
	}
	x, err := s.Gather(mods, idx, nil)
	if err != nil {
		return nil, err
	}
	return &Split{X: x, Y: s.Y, Avail: s.Avail}, nil
}

// Batches delivers the samples of a split batch by batch, in the order of plan (plan[k]
// holds the sample indices of batch k). For an in-memory split Next gathers each batch
// when asked; a streamed split decodes batches in the background, at most its prefetch
// count of them ahead of the one in use, so its memory is bounded by (prefetch + 1) batches
// whatever the size of the data set. Close releases it; a Batches must be closed.
type Batches struct {
	split *Split
	mods  []Modality
	plan  [][]int
	need  combo.Set // the modalities a streamed split decodes
	next  int       // in-memory: the next batch of plan

	// streamed
	ready chan decoded
	free  chan [][]float32
	done  chan struct{}
	wg    sync.WaitGroup
	cur   [][]float32
	got   bool // the first batch was taken
	err   error
	mu    sync.Mutex
	// pending counts the batches decoded but not yet taken by Next; peak is its maximum.
	pending, peak int
}

// decoded is one decoded batch, or the error that stopped decoding.
type decoded struct {
	x   [][]float32
	err error
}

// Batches starts delivering the batches of plan (see the type).
func (s *Split) Batches(mods []Modality, plan [][]int) *Batches {
	return s.BatchesOf(mods, plan, combo.Full(len(mods)))
}

// BatchesOf is Batches for a consumer that reads only the modalities need (an evaluation
// of one combination, whose model ignores the inputs of the other modalities): a streamed
// split leaves the others at zero instead of decoding them. An in-memory split gathers
// every modality, as Batches does.
func (s *Split) BatchesOf(mods []Modality, plan [][]int, need combo.Set) *Batches {
	b := &Batches{split: s, mods: mods, plan: plan, need: need}
	if s.stream == nil || len(plan) == 0 {
		return b
	}
	p := s.stream.src.prefetch
	b.ready = make(chan decoded, p)
	b.free = make(chan [][]float32, p+1)
	b.done = make(chan struct{})
	for range p {
		b.free <- nil
	}
	b.wg.Add(1)
	go b.produce()
	return b
}

// produce decodes the batches of the plan in order into free buffers.
func (b *Batches) produce() {
	defer b.wg.Done()
	defer close(b.ready)
	for _, idx := range b.plan {
		var buf [][]float32
		select {
		case buf = <-b.free:
		case <-b.done:
			return
		}
		if len(buf) < len(b.mods) {
			buf = make([][]float32, len(b.mods))
		}
		buf, err := b.split.stream.decode(idx, b.need, buf)
		b.mu.Lock()
		b.pending++
		b.peak = max(b.peak, b.pending)
		b.mu.Unlock()
		select {
		case b.ready <- decoded{buf, err}:
		case <-b.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Next returns the next batch of the plan. An in-memory split gathers it into x (grown as
// needed); a streamed one returns its own buffer, valid until the next call of Next or
// Close. After the plan's last batch, or an error, Next returns an error.
func (b *Batches) Next(x [][]float32) ([][]float32, error) {
	if b.ready == nil {
		if b.next >= len(b.plan) {
			return x, fmt.Errorf("dataset: read past the last of %d batches", len(b.plan))
		}
		b.next++
		return b.split.Gather(b.mods, b.plan[b.next-1], x)
	}
	if b.err != nil {
		return nil, b.err
	}
	d, ok := <-b.ready
	if !ok {
		b.err = fmt.Errorf("dataset: read past the last of %d batches", len(b.plan))
		return nil, b.err
	}
	b.mu.Lock()
	b.pending--
	b.mu.Unlock()
	// Only now is the previous batch's buffer free again (before the first batch a new
	// buffer joins): so prefetch batches are decoded ahead of the one in use, never more.
	if b.got {
		b.free <- b.cur
	} else {
		b.free <- nil
		b.got = true
	}
	b.cur = nil
	if d.err != nil {
		b.err = d.err
		return nil, d.err
	}
	b.cur = d.x
	return d.x, nil
}

// Peak is the largest number of batches that were decoded but not yet taken by Next at
// any time: at most the prefetch count of the split.
func (b *Batches) Peak() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// Close stops the background decoding and waits for it. Close is idempotent, and a nil
// Batches may be closed.
func (b *Batches) Close() {
	if b == nil || b.done == nil {
		return
	}
	select {
	case <-b.done:
	default:
		close(b.done)
	}
	b.wg.Wait()
	b.cur = nil
}

// Prefetch is the number of batches a streamed split decodes ahead (0 for in-memory
// splits, which gather each batch when it is asked for).
func (s *Split) Prefetch() int {
	if s.stream == nil {
		return 0
	}
	return s.stream.src.prefetch
}
