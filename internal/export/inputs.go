package export

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/dmrnet/dmrnet/internal/dataset"
)

// InputsMeta describes an inputs file (see Inputs).
type InputsMeta struct {
	// Format is "dmrnet-inputs"; Version is FormatVersion.
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Split is the data split ("test", "val" or "train"), N its number of samples.
	Split string `json:"split"`
	N     int    `json:"n"`
	// Checkpoint is the model whose standardisation the inputs carry.
	Checkpoint string `json:"checkpoint"`
	// Modalities are the inputs in model order, Classes the class names y indexes.
	Modalities []InputModality `json:"modalities"`
	Classes    []string        `json:"classes"`
}

// InputModality is one modality of an inputs file.
type InputModality struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Inputs returns the arrays of the model-ready inputs of split s of ds (preprocessed and
// standardised exactly as the model sees them):
//
//	x.<modality>       (N, *shape) float32; zeros where a sample lacks the modality
//	y                  (N,) int64 class indices
//	avail              (N, M) uint8, 1 where the sample has the modality
//	__metadata__.json  the InputsMeta JSON as uint8
func Inputs(ds *dataset.Dataset, s *dataset.Split, split, checkpoint string) ([]Array, error) {
	n, nm := s.Len(), len(ds.Modalities)
	meta := InputsMeta{Format: "dmrnet-inputs", Version: FormatVersion, Split: split, N: n, Checkpoint: checkpoint,
		Classes: append([]string{}, ds.Classes...)}
	var arrays []Array
	for m, mod := range ds.Modalities {
		if len(s.X[m]) != n*mod.Size() {
			return nil, fmt.Errorf("export: %s split, modality %s: %d values for %d samples of size %d", split, mod.Name, len(s.X[m]), n, mod.Size())
		}
		arrays = append(arrays, Array{Name: "x." + mod.Name, Shape: append([]int{n}, mod.Shape...), Data: s.X[m]})
		meta.Modalities = append(meta.Modalities, InputModality{Name: mod.Name, Shape: append([]int{}, mod.Shape...)})
	}
	y := make([]int64, n)
	avail := make([]uint8, n*nm)
	for i := range n {
		y[i] = int64(s.Y[i])
		a := s.AvailOf(i, nm)
		for m := range nm {
			if a.Has(m) {
				avail[i*nm+m] = 1
			}
		}
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("export: inputs metadata: %w", err)
	}
	arrays = append(arrays,
		Array{Name: "y", Shape: []int{n}, Data: y},
		Array{Name: "avail", Shape: []int{n, nm}, Data: avail},
		Array{Name: MetadataArray, Shape: []int{len(js)}, Data: js})
	return arrays, nil
}

// WriteInputs writes the inputs of split s of ds as an npz archive (see Inputs).
func WriteInputs(w io.Writer, ds *dataset.Dataset, s *dataset.Split, split, checkpoint string) error {
	arrays, err := Inputs(ds, s, split, checkpoint)
	if err != nil {
		return err
	}
	return WriteNPZ(w, arrays)
}
