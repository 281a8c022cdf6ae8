package dataset

import (
	"math"

	"github.com/dmrnet/dmrnet/internal/combo"
)

// Norm is the standardisation of one modality, x' = (x - Mean) / Std, computed on the
// training split and stored in checkpoints so that evaluation applies exactly the same
// transform. PerColumn norms have one Mean/Std per feature; global norms a single value.
type Norm struct {
	Modality  string
	PerColumn bool
	Mean, Std []float64
}

// StandardizeSpec asks for a modality to be standardised, per column or globally.
type StandardizeSpec struct {
	Modality  int
	PerColumn bool
}

// Standardize standardises the listed modalities of every split. With stored == nil the
// statistics are computed on the training split (population standard deviation; a zero
// deviation counts as 1); otherwise the stored norms are applied, after checking that they
// fit the data.
func (d *Dataset) Standardize(specs []StandardizeSpec, stored []Norm) error {
	var norms []Norm
	for k, s := range specs {
		mod := d.Modalities[s.Modality]
		var n Norm
		if stored != nil {
			if k >= len(stored) || stored[k].Modality != mod.Name || stored[k].PerColumn != s.PerColumn {
				return invalidf("the checkpoint's standardisation does not match modality %q of the data set", mod.Name)
			}
			n = stored[k]
			want := 1
			if s.PerColumn {
				want = mod.Size()
			}
			if len(n.Mean) != want || len(n.Std) != want {
				return invalidf("the checkpoint standardises %q with %d values, the data has %d features", mod.Name, len(n.Mean), want)
			}
		} else {
			var err error
			if n, err = d.normOf(s); err != nil {
				return err
			}
		}
		norms = append(norms, n)
		for _, sp := range []*Split{d.Train, d.Val, d.Test} {
			switch {
			case sp == nil:
			case sp.stream != nil:
				// the splits share the source, which standardises when it decodes
				sp.stream.src.norms[s.Modality] = &n
			default:
				d.applyNorm(sp, s.Modality, n)
			}
		}
	}
	d.Norms = norms
	return nil
}

// eachTrainRow calls f with modality m of every training sample that has it, in order. A
// streamed split decodes the samples chunk at a time (without standardisation: the
// statistics are computed before it is set).
func (d *Dataset) eachTrainRow(m, chunk int, f func(row []float32)) error {
	sp := d.Train
	size := d.Modalities[m].Size()
	var idx []int
	x := make([][]float32, len(d.Modalities)) // decoding buffers, reused across chunks
	for i := 0; i < sp.Len(); i++ {
		if !sp.AvailOf(i, len(d.Modalities)).Has(m) {
			continue
		}
		if sp.stream == nil {
			f(sp.X[m][i*size : (i+1)*size])
			continue
		}
		idx = append(idx, i)
		if len(idx) == chunk {
			if err := d.eachDecoded(m, idx, x, f); err != nil {
				return err
			}
			idx = idx[:0]
		}
	}
	return d.eachDecoded(m, idx, x, f)
}

// eachDecoded decodes modality m of the streamed training samples idx into x and calls f
// with each.
func (d *Dataset) eachDecoded(m int, idx []int, x [][]float32, f func(row []float32)) error {
	if len(idx) == 0 {
		return nil
	}
	x, err := d.Train.stream.decode(idx, combo.Set(1)<<uint(m), x)
	if err != nil {
		return err
	}
	size := d.Modalities[m].Size()
	for i := range idx {
		f(x[m][i*size : (i+1)*size])
	}
	return nil
}

// normOf computes a modality's statistics over the training samples that have it, in two
// passes (the mean, then the squared deviations), summing in sample order.
func (d *Dataset) normOf(s StandardizeSpec) (Norm, error) {
	mod := d.Modalities[s.Modality]
	size := mod.Size()
	cols := 1
	if s.PerColumn {
		cols = size
	}
	sum := make([]float64, cols)
	sq := make([]float64, cols)
	var count float64
	err := d.eachTrainRow(s.Modality, normChunk, func(row []float32) {
		count++
		for j, v := range row {
			sum[j%cols] += float64(v)
		}
	})
	if err != nil {
		return Norm{}, err
	}
	per := count
	if !s.PerColumn {
		per = count * float64(size)
	}
	mean := make([]float64, cols)
	for j := range mean {
		mean[j] = sum[j] / math.Max(per, 1)
	}
	err = d.eachTrainRow(s.Modality, normChunk, func(row []float32) {
		for j, v := range row {
			dv := float64(v) - mean[j%cols]
			sq[j%cols] += dv * dv
		}
	})
	if err != nil {
		return Norm{}, err
	}
	std := make([]float64, cols)
	for j := range std {
		std[j] = math.Sqrt(sq[j] / math.Max(per, 1))
		if std[j] == 0 {
			std[j] = 1
		}
	}
	return Norm{Modality: mod.Name, PerColumn: s.PerColumn, Mean: mean, Std: std}, nil
}

// applyNorm standardises modality m of the samples of sp that have it (missing ones stay 0).
func (d *Dataset) applyNorm(sp *Split, m int, n Norm) {
	size := d.Modalities[m].Size()
	x := sp.X[m]
	for i := 0; i < sp.Len(); i++ {
		if !sp.AvailOf(i, len(d.Modalities)).Has(m) {
			continue
		}
		n.Apply(x[i*size : (i+1)*size])
	}
}

// Apply standardises one sample's values in place, as training did.
func (n Norm) Apply(row []float32) {
	cols := len(n.Mean)
	for k, v := range row {
		j := k % cols
		row[k] = float32((float64(v) - n.Mean[j]) / n.Std[j])
	}
}
