package dataset

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/audio"
	"github.com/dmrnet/dmrnet/internal/combo"
)

// Input kinds: what raw input a modality takes when a trained model scores new samples.
const (
	// InputVector is a row of numbers (table and synthetic modalities).
	InputVector = "vector"
	// InputImage, InputAudio and InputNPY are files (manifest modalities, avmnist).
	InputImage = "image"
	InputAudio = "audio"
	InputNPY   = "npy"
)

// Input describes how one modality's raw input becomes model input, exactly as the data
// set's loader and its stored standardisation transformed the training data.
type Input struct {
	Modality
	// Kind is one of the Input* constants.
	Kind string
	// File holds the decoding settings of image, audio and npy inputs.
	File ManifestModality
	// Norm, when not nil, standardises the decoded values.
	Norm *Norm
}

// Prep turns raw samples into model inputs. Its methods are safe for concurrent use, except
// that every goroutine needs its own Extractors.
type Prep struct {
	Inputs []Input
}

// Names returns the modality names in model order.
func (p *Prep) Names() []string {
	out := make([]string, len(p.Inputs))
	for i, in := range p.Inputs {
		out[i] = in.Name
	}
	return out
}

// Vectors reports whether every input is a row of numbers (table and synthetic models), as
// opposed to files.
func (p *Prep) Vectors() bool {
	for _, in := range p.Inputs {
		if in.Kind != InputVector {
			return false
		}
	}
	return true
}

// Index returns the position of the named modality, or -1.
func (p *Prep) Index(name string) int {
	for i, in := range p.Inputs {
		if in.Name == name {
			return i
		}
	}
	return -1
}

// Vector writes modality m's model input for one sample's raw feature row into dst (of the
// modality's size). The row must have exactly the modality's width and finite values that
// fit float32.
func (p *Prep) Vector(m int, raw []float64, dst []float32) error {
	in := p.Inputs[m]
	if in.Kind != InputVector {
		return &ModalityError{in.Name, fmt.Errorf("takes %s files, not a row of numbers", in.Kind)}
	}
	if len(raw) != in.Size() {
		return &ModalityError{in.Name, fmt.Errorf("%d values, the model takes %d (give the %d features of the view it was trained on)", len(raw), in.Size(), in.Size())}
	}
	for j, v := range raw {
		f := float32(v)
		if math.IsNaN(v) || math.IsInf(float64(f), 0) {
			return &ModalityError{in.Name, fmt.Errorf("column %d: value %v is not a finite float32 number (give finite values within ±3.4e38)", j+1, v)}
		}
		dst[j] = f
	}
	if in.Norm != nil {
		in.Norm.Apply(dst)
	}
	return nil
}

// ModalityError is a problem with one modality's input of a sample.
type ModalityError struct {
	Modality string
	Err      error
}

func (e *ModalityError) Error() string { return fmt.Sprintf("modality %q: %v", e.Modality, e.Err) }
func (e *ModalityError) Unwrap() error { return e.Err }

// Extractors are per-goroutine audio front ends for File.
type Extractors map[int]*audio.Extractor

// File decodes modality m's file at path into dst (of the modality's size) and standardises
// it as training did.
func (p *Prep) File(m int, path string, dst []float32, ex Extractors) error {
	in := p.Inputs[m]
	if in.Kind == InputVector {
		return &ModalityError{in.Name, fmt.Errorf("takes a row of numbers (--view %s=FILE), not a file path", in.Name)}
	}
	if err := decodeFile(path, in.File, dst, ex, m); err != nil {
		return &ModalityError{in.Name, err}
	}
	if in.Norm != nil {
		in.Norm.Apply(dst)
	}
	return nil
}

// NewPrep builds the preprocessing of a trained model's modalities. files gives the file
// settings of file-based modalities by name (nil for vector data sets); norms are the
// standardisations stored in the checkpoint, matched by modality name.
func NewPrep(mods []Modality, files map[string]ManifestModality, norms []Norm) (*Prep, error) {
	p := &Prep{}
	for _, mod := range mods {
		in := Input{Modality: mod, Kind: InputVector}
		if f, ok := files[mod.Name]; ok {
			in.Kind, in.File = f.Type, f
			if got := f.shape(); !slices.Equal(got, mod.Shape) {
				return nil, fmt.Errorf("modality %q: the configuration decodes shape %v, the model takes %v", mod.Name, got, mod.Shape)
			}
		}
		for k := range norms {
			if norms[k].Modality == mod.Name {
				n := norms[k]
				if n.PerColumn && len(n.Mean) != mod.Size() || !n.PerColumn && len(n.Mean) != 1 {
					return nil, fmt.Errorf("modality %q: the stored standardisation has %d values for %d features", mod.Name, len(n.Mean), mod.Size())
				}
				in.Norm = &n
			}
		}
		p.Inputs = append(p.Inputs, in)
	}
	return p, nil
}

// Describe lists the inputs as "name (kind, shape)" for messages.
func (p *Prep) Describe() string {
	parts := make([]string, len(p.Inputs))
	for i, in := range p.Inputs {
		parts[i] = fmt.Sprintf("%s (%s of %d values)", in.Name, in.Kind, in.Size())
		if in.Kind != InputVector {
			parts[i] = fmt.Sprintf("%s (%s file)", in.Name, in.Kind)
		}
	}
	return strings.Join(parts, ", ")
}

// RawSample is one sample's raw inputs by modality index: a row of numbers (vector
// modalities) or a file path (file modalities); nil or "" marks the modality absent.
type RawSample struct {
	Vectors [][]float64
	Files   []string
}

// Decode turns samples into model inputs: x[m] (grown as needed) receives modality m of
// sample i at rows i; absent modalities are zero. It returns each sample's modalities and
// error (the sample is unusable when its error is not nil: a bad value or file, or no
// modality at all). Files are decoded in parallel.
func (p *Prep) Decode(samples []RawSample, x [][]float32) ([][]float32, []combo.Set, []error) {
	if len(x) < len(p.Inputs) {
		x = append(x, make([][]float32, len(p.Inputs)-len(x))...)
	}
	for m, in := range p.Inputs {
		need := len(samples) * in.Size()
		if cap(x[m]) < need {
			x[m] = make([]float32, need)
		}
		x[m] = x[m][:need]
		clear(x[m])
	}
	avail := make([]combo.Set, len(samples))
	errs := make([]error, len(samples))
	type job struct{ i, m int }
	var jobs []job
	for i, s := range samples {
		for m, in := range p.Inputs {
			hasVec := m < len(s.Vectors) && s.Vectors[m] != nil
			hasFile := m < len(s.Files) && s.Files[m] != ""
			if !hasVec && !hasFile {
				continue
			}
			avail[i] |= 1 << uint(m)
			dst := x[m][i*in.Size() : (i+1)*in.Size()]
			if hasVec && errs[i] == nil {
				errs[i] = p.Vector(m, s.Vectors[m], dst)
			}
			if hasFile {
				jobs = append(jobs, job{i, m})
			}
		}
		if avail[i] == 0 {
			errs[i] = fmt.Errorf("no modality is present (a sample needs at least one of %s)", strings.Join(p.Names(), ", "))
		}
	}
	ferrs := make([]error, len(jobs))
	_ = parallel(len(jobs), func(k int, ex Extractors) error {
		j := jobs[k]
		in := p.Inputs[j.m]
		ferrs[k] = p.File(j.m, samples[j.i].Files[j.m], x[j.m][j.i*in.Size():(j.i+1)*in.Size()], ex)
		return nil
	}, func() Extractors { return Extractors{} })
	for k, j := range jobs {
		if ferrs[k] != nil && errs[j.i] == nil {
			errs[j.i] = ferrs[k]
		}
	}
	return x, avail, errs
}
