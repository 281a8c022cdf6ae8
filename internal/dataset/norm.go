package dataset

import (
	"math"
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
			n = d.normOf(s)
		}
		norms = append(norms, n)
		for _, sp := range []*Split{d.Train, d.Val, d.Test} {
			if sp != nil {
				d.applyNorm(sp, s.Modality, n)
			}
		}
	}
	d.Norms = norms
	return nil
}

// normOf computes a modality's statistics over the training samples that have it.
func (d *Dataset) normOf(s StandardizeSpec) Norm {
	mod := d.Modalities[s.Modality]
	size := mod.Size()
	cols := 1
	if s.PerColumn {
		cols = size
	}
	sum := make([]float64, cols)
	sq := make([]float64, cols)
	var count float64
	x := d.Train.X[s.Modality]
	for i := 0; i < d.Train.Len(); i++ {
		if !d.Train.AvailOf(i, len(d.Modalities)).Has(s.Modality) {
			continue
		}
		count++
		for j, v := range x[i*size : (i+1)*size] {
			sum[j%cols] += float64(v)
		}
	}
	per := count
	if !s.PerColumn {
		per = count * float64(size)
	}
	mean := make([]float64, cols)
	for j := range mean {
		mean[j] = sum[j] / math.Max(per, 1)
	}
	for i := 0; i < d.Train.Len(); i++ {
		if !d.Train.AvailOf(i, len(d.Modalities)).Has(s.Modality) {
			continue
		}
		for j, v := range x[i*size : (i+1)*size] {
			dv := float64(v) - mean[j%cols]
			sq[j%cols] += dv * dv
		}
	}
	std := make([]float64, cols)
	for j := range std {
		std[j] = math.Sqrt(sq[j] / math.Max(per, 1))
		if std[j] == 0 {
			std[j] = 1
		}
	}
	return Norm{Modality: mod.Name, PerColumn: s.PerColumn, Mean: mean, Std: std}
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
