package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzState mirrors train.State, which this package cannot import: gob matches fields by
// name, so a real training checkpoint decodes into it with all of its slices, maps and nested
// structs (the maps are what the checking walk of decode is for).
type fuzzState struct {
	Config   []byte
	Params   []Tensor
	BN       []Tensor
	OptSteps int64
	OptSlots []Tensor
	Epoch    int
	Step     int
	Perm     []int
	Acc      struct {
		Loss, CE, KL, HCR, Aux float64
		Correct, N             int
		Seconds                float64
	}
	Hard       []uint64
	HardChosen bool
	Miner      struct {
		SumVar map[uint64]float64
		SumCE  map[uint64]float64
		Count  map[uint64]int64
	}
	SoftR, SoftW map[uint64]float64
	RNG          map[string][]byte
	BestScore    float64
	BestEpoch    int
	Stale        int
	Done         bool
	Seconds      float64
	Norms        []struct {
		Modality  string
		PerColumn bool
		Mean, Std []float64
	}
	Modalities []struct {
		Name  string
		Shape []int
	}
	Classes    []string
	Provenance *struct {
		Dmrnet struct {
			Version, Revision, Time string
			Modified                bool
			GoVersion               string
		}
		Data *struct {
			Kind, Settings string
			Files          []struct {
				Path   string
				Size   int64
				SHA256 string
			}
		}
		Notes []string
	}
}

// realCheckpoint is a training checkpoint written by dmrnet (a small synthetic run stopped in
// the middle of an epoch, with hard.by=soft so that every map of the state is filled);
// TestWriteFuzzSeed in internal/train regenerates it.
const realCheckpoint = "testdata/real.ckpt"

// TestRealCheckpoint checks that the seed checkpoint is what the fuzz target needs: a real
// checkpoint that decodes, maps included.
func TestRealCheckpoint(t *testing.T) {
	var st fuzzState
	if err := Load(realCheckpoint, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Params) == 0 || len(st.RNG) == 0 || len(st.SoftR) == 0 || len(st.Miner.Count) == 0 || st.Provenance == nil || len(st.Perm) == 0 {
		t.Fatalf("seed checkpoint lacks parts of the state: %d params, %d RNG, %d soft, %d mined, provenance %v, perm %d",
			len(st.Params), len(st.RNG), len(st.SoftR), len(st.Miner.Count), st.Provenance != nil, len(st.Perm))
	}
}

// FuzzLoad feeds the checkpoint reader arbitrary files: each input is decoded as a whole file
// and, since random bytes rarely pass the checksum, also as the payload of a file with a
// correct header and checksum, which puts the gob decoder itself under test. Load must never
// panic (a panic inside gob, which decode recovers from, fails the target too), and every
// error must wrap ErrCorrupt and be one line that starts with the file name and ends with
// a hint.
//
//	go test -fuzz FuzzLoad -fuzztime 60s ./internal/checkpoint
func FuzzLoad(f *testing.F) {
	real, err := os.ReadFile(realCheckpoint)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add(real[headerSize : len(real)-trailerSize]) // its payload
	f.Add(real[:len(real)/2])
	f.Add(withLength(real, 1<<63))
	p := filepath.Join(f.TempDir(), "sample.ckpt")
	if err := Save(p, sample()); err != nil {
		f.Fatal(err)
	}
	small, _ := os.ReadFile(p)
	f.Add(small)
	f.Add(small[headerSize : len(small)-trailerSize])
	f.Add([]byte{})
	f.Add(magic[:])
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, raw := range [][]byte{data, wrap(data)} {
			var st fuzzState
			err := decode("fuzz.ckpt", raw, &st)
			if err == nil {
				continue
			}
			msg := err.Error()
			switch {
			case !errors.Is(err, ErrCorrupt):
				t.Fatalf("error %q does not wrap ErrCorrupt", msg)
			case strings.Contains(msg, decoderPanicked):
				t.Fatalf("gob panicked: %s", msg)
			case strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "fuzz.ckpt: ") || !strings.HasSuffix(msg, ")"):
				t.Fatalf("error %q is not one line naming the file with a hint", msg)
			}
		}
	})
}
