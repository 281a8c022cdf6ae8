package train

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/model"
)

// unusedModalities returns, in modality order, the modalities that training never presents
// to the model: those in no combination that drawCombination can give any training sample
// (with explicit dropout, a specialist's other modalities; also a modality no training
// sample has). Their encoders would get no gradient, only weight decay, so the model leaves
// them out (model.ModalitySpec.Absent). With auxiliary heads, whose per-modality outputs
// evaluation reads for every modality, nothing is left out.
func (t *Trainer) unusedModalities() []string {
	if t.cfg.Model.AuxHeads.Weight > 0 {
		return nil
	}
	train, m := t.data.Train, t.space.M()
	var used combo.Set
	seen := map[combo.Set]bool{}
	for j := 0; j < train.Len(); j++ {
		avail := train.AvailOf(j, m)
		if seen[avail] {
			continue
		}
		seen[avail] = true
		if t.cfg.Dropout.Mode != "explicit" {
			used |= avail // every non-empty part of avail can be drawn
			continue
		}
		for _, s := range t.dropS {
			if c := s & avail; c != 0 {
				used |= c
			} else {
				used |= avail
			}
		}
	}
	if used == 0 {
		return nil // no training sample: nothing to learn either way
	}
	var out []string
	for i, name := range t.data.Names() {
		if !used.Has(i) {
			out = append(out, name)
		}
	}
	return out
}

// withAbsent returns spec with the named modalities marked absent.
func withAbsent(spec model.Spec, absent []string) model.Spec {
	if len(absent) == 0 {
		return spec
	}
	spec.Modalities = slices.Clone(spec.Modalities)
	for i, ms := range spec.Modalities {
		spec.Modalities[i].Absent = slices.Contains(absent, ms.Name)
	}
	return spec
}

// checkAbsent reports a checkpoint's absent modality that the configuration now trains: the
// checkpoint's model has no encoder for it.
func checkAbsent(saved, unused []string) error {
	var missing []string
	for _, name := range saved {
		if !slices.Contains(unused, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the checkpoint's model has no encoder for %s, which the configuration trains (keep the run's dropout settings, or start over with --force)", strings.Join(missing, ", "))
	}
	return nil
}
