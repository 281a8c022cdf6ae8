// Package dataset holds multimodal data sets: per modality a row-major float32 matrix of
// samples, class labels, and which modalities each sample really has. A manifest data set
// may instead stay on disk (StreamManifest): only its rows (paths, labels, availability) are
// in memory and the files of a batch are decoded when the batch is needed.
//
// Data flows from here to the training loop and the evaluator as index lists: the loop
// shuffles indices, and Split.Batches delivers the batches of such a plan, gathered from
// memory or decoded a few batches ahead from disk, with the same values either way.
package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/dmrnet/dmrnet/internal/combo"
)

// ErrInvalid marks data that cannot be used (wrong shapes, NaN/Inf, labels out of range).
// Errors wrap it (errors.Is) without repeating its text, so that messages read as
// "file: problem (fix)".
var ErrInvalid = errors.New("dataset: invalid data")

// invalidError is a one-line data error that matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// invalidf formats an invalidError.
func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// Modality describes one input modality.
type Modality struct {
	Name string
	// Shape of one sample, e.g. [d] for a feature vector or [C, H, W] for an image.
	Shape []int
}

// Size is the number of values of one sample.
func (m Modality) Size() int {
	n := 1
	for _, d := range m.Shape {
		n *= d
	}
	return n
}

// Split is a set of samples.
type Split struct {
	// X[m] holds modality m row-major: sample i is X[m][i*size : (i+1)*size].
	X [][]float32
	Y []int
	// Avail is, per sample, the modalities present in the data. nil means every modality of
	// every sample is present. A modality missing from a sample is always masked in training
	// and the sample is left out of the evaluation of combinations that need it.
	Avail []combo.Set
	// stream, when not nil, holds the samples on disk instead of X (see StreamManifest):
	// Y and Avail are in memory, the inputs are decoded per batch.
	stream *stream
}

// Len is the number of samples.
func (s *Split) Len() int { return len(s.Y) }

// AvailOf returns the modalities sample i has.
func (s *Split) AvailOf(i int, m int) combo.Set {
	if s.Avail == nil {
		return combo.Full(m)
	}
	return s.Avail[i]
}

// Subset returns the samples idx as a new split (the data is copied).
func (s *Split) Subset(idx []int, mods []Modality) *Split {
	out := &Split{Y: make([]int, len(idx))}
	for i, j := range idx {
		out.Y[i] = s.Y[j]
	}
	if s.stream != nil {
		out.stream = &stream{src: s.stream.src, rows: make([]int, len(idx))}
		for i, j := range idx {
			out.stream.rows[i] = s.stream.rows[j]
		}
	}
	for m, x := range s.X {
		out.X = append(out.X, Gather(x, mods[m].Size(), idx, nil))
	}
	if s.Avail != nil {
		out.Avail = make([]combo.Set, len(idx))
		for i, j := range idx {
			out.Avail[i] = s.Avail[j]
		}
	}
	return out
}

// Gather copies rows idx of a row-major matrix with rows of the given size into dst (grown
// as needed) and returns it.
func Gather(x []float32, size int, idx []int, dst []float32) []float32 {
	need := len(idx) * size
	if cap(dst) < need {
		dst = make([]float32, need)
	}
	dst = dst[:need]
	for i, j := range idx {
		copy(dst[i*size:(i+1)*size], x[j*size:(j+1)*size])
	}
	return dst
}

// Dataset is a complete multimodal data set.
type Dataset struct {
	Name       string
	Modalities []Modality
	// Classes names the classes; labels are indices into it.
	Classes     []string
	Train, Test *Split
	// Val is an optional validation split carved from Train (see HoldOut).
	Val *Split
	// Norms are the standardisations applied to the data (see Standardize).
	Norms []Norm
}

// Names returns the modality names in order.
func (d *Dataset) Names() []string {
	out := make([]string, len(d.Modalities))
	for i, m := range d.Modalities {
		out[i] = m.Name
	}
	return out
}

// Validate checks that every split has consistent shapes, finite values and labels in range.
func (d *Dataset) Validate() error {
	if len(d.Modalities) == 0 {
		return invalidf("%s has no modalities", d.Name)
	}
	if len(d.Classes) < 2 {
		return invalidf("%s has %d classes, need at least 2", d.Name, len(d.Classes))
	}
	for _, sp := range []struct {
		name string
		s    *Split
	}{{"train", d.Train}, {"val", d.Val}, {"test", d.Test}} {
		if sp.s == nil {
			if sp.name == "val" {
				continue
			}
			return invalidf("%s has no %s split", d.Name, sp.name)
		}
		if err := d.validateSplit(sp.name, sp.s); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dataset) validateSplit(name string, s *Split) error {
	n := s.Len()
	if n == 0 {
		return invalidf("%s %s split is empty", d.Name, name)
	}
	if s.stream != nil {
		// The inputs are on disk: decoding checks each sample's values (stream.decode).
		if len(s.stream.rows) != n {
			return invalidf("%s %s split: %d streamed rows for %d samples", d.Name, name, len(s.stream.rows), n)
		}
	} else if len(s.X) != len(d.Modalities) {
		return invalidf("%s %s split has %d modalities, want %d", d.Name, name, len(s.X), len(d.Modalities))
	}
	for m, mod := range d.Modalities {
		if s.stream != nil {
			break
		}
		if len(s.X[m]) != n*mod.Size() {
			return invalidf("%s %s split, modality %q: %d values for %d samples of size %d",
				d.Name, name, mod.Name, len(s.X[m]), n, mod.Size())
		}
		for i, v := range s.X[m] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return invalidf("%s %s split, modality %q, sample %d, value %d is %v (clean or impute the data)",
					d.Name, name, mod.Name, i/mod.Size(), i%mod.Size(), v)
			}
		}
	}
	for i, y := range s.Y {
		if y < 0 || y >= len(d.Classes) {
			return invalidf("%s %s split, sample %d: label %d outside [0, %d)", d.Name, name, i, y, len(d.Classes))
		}
	}
	if s.Avail != nil {
		if len(s.Avail) != n {
			return invalidf("%s %s split: %d availability entries for %d samples", d.Name, name, len(s.Avail), n)
		}
		full := combo.Full(len(d.Modalities))
		for i, a := range s.Avail {
			if a == 0 || a&^full != 0 {
				return invalidf("%s %s split, sample %d has no usable modality", d.Name, name, i)
			}
		}
	}
	return nil
}

// HoldOut moves a stratified, seeded fraction of the training samples into Val: in every
// class round(frac * count) samples (at least one when frac > 0 and the class has two or
// more samples) are drawn at random.
func (d *Dataset) HoldOut(frac float64, seed uint64) {
	if frac <= 0 {
		return
	}
	rng := rand.New(rand.NewPCG(seed, 0x7661_6c69_6461_7465)) // "validate"
	byClass := map[int][]int{}
	for i, y := range d.Train.Y {
		byClass[y] = append(byClass[y], i)
	}
	classes := make([]int, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	sort.Ints(classes)
	var val, train []int
	for _, c := range classes {
		idx := byClass[c]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		k := int(math.Round(frac * float64(len(idx))))
		if k == 0 && len(idx) >= 2 {
			k = 1
		}
		if k >= len(idx) {
			k = len(idx) - 1
		}
		val = append(val, idx[:k]...)
		train = append(train, idx[k:]...)
	}
	sort.Ints(val)
	sort.Ints(train)
	d.Val = d.Train.Subset(val, d.Modalities)
	d.Train = d.Train.Subset(train, d.Modalities)
}
