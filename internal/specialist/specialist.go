// Package specialist stores the per-combination accuracy of specialist models: models
// trained and tested on one modality combination only (for example only the "rgb" view).
// A specialist's test accuracy on its combination is the yardstick for the accuracy of a
// model trained to be robust to missing modalities on the same combination; the difference
// of the two is the gap, and the gaps summarised over combinations are the cost of
// robustness (see packages report and aggregate).
//
// A Set is kept in the file specialists.json of a directory, written by Save and read by
// Load. Its JSON field names are a public contract.
package specialist

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
)

// File is the name of the file, in a specialists directory, that holds a Set.
const File = "specialists.json"

// Entry is the specialist of one modality combination, summarised over its training seeds.
type Entry struct {
	// Combination is the combination's name, the present modalities joined with '+' in
	// modality order, e.g. "rgb+ir".
	Combination string `json:"combination"`
	// Present lists the names of the present modalities, in modality order.
	Present []string `json:"present"`
	// Accuracy is the mean test accuracy over the seeds, a fraction.
	Accuracy float64 `json:"accuracy"`
	// Std is the sample standard deviation (ddof=1) of the accuracy over the seeds, 0 for a
	// single seed.
	Std float64 `json:"std"`
	// Seeds are the training seeds of the specialist's runs, in increasing order.
	Seeds []int64 `json:"seeds"`
	// Runs are the run directories, Runs[i] trained with Seeds[i].
	Runs []string `json:"runs"`
}

// Set is the specialists of the combinations of one data set's modalities.
type Set struct {
	// Modalities lists the data set's modality names, in modality order.
	Modalities []string `json:"modalities"`
	// Entries holds one Entry per combination that has a specialist, ordered by the number
	// of present modalities, then by the modalities' positions.
	Entries []Entry `json:"specialists"`
}

// SeedResult is the test accuracy of one specialist run.
type SeedResult struct {
	// Seed is the run's training seed.
	Seed int64
	// Run is the run directory.
	Run string
	// Accuracy is the run's test accuracy on its combination, a fraction.
	Accuracy float64
}

// Collect returns the Set of the specialists of modalities whose runs, keyed by combination
// name, are given. Each entry holds the mean and the sample standard deviation of the
// accuracy over its runs, and the runs' seeds and directories in increasing seed order.
//
// Combination names are modality names joined with '+'; names that list the modalities out
// of order are put in modality order (runs whose names thus coincide are merged). Entries
// are ordered by the number of present modalities, then by the modalities' positions, as
// a sweep orders them. A name that does not name a combination of modalities (an unknown or
// repeated modality) is kept as it is, after the others, in name order. Combinations
// without runs are skipped.
func Collect(modalities []string, runs map[string][]SeedResult) *Set {
	index := make(map[string]int, len(modalities))
	for i, m := range modalities {
		if _, dup := index[m]; !dup {
			index[m] = i
		}
	}
	type combination struct {
		name      string
		present   []string
		positions []int // nil when name is not a combination of modalities
		results   []SeedResult
	}
	byName := map[string]*combination{}
	var combos []*combination
	for name, results := range runs {
		if len(results) == 0 {
			continue
		}
		present := strings.Split(name, "+")
		positions, ok := parsePositions(present, index)
		if ok {
			slices.Sort(positions)
			present = make([]string, len(positions))
			for i, p := range positions {
				present[i] = modalities[p]
			}
			name = strings.Join(present, "+")
		} else {
			positions = nil
		}
		c := byName[name]
		if c == nil {
			c = &combination{name: name, present: present, positions: positions}
			byName[name] = c
			combos = append(combos, c)
		}
		c.results = append(c.results, results...)
	}
	slices.SortFunc(combos, func(a, b *combination) int {
		switch {
		case a.positions == nil && b.positions == nil:
			return cmp.Compare(a.name, b.name)
		case a.positions == nil:
			return 1
		case b.positions == nil:
			return -1
		}
		return cmp.Or(cmp.Compare(len(a.positions), len(b.positions)), slices.Compare(a.positions, b.positions))
	})

	s := &Set{Modalities: slices.Clone(modalities), Entries: make([]Entry, 0, len(combos))}
	for _, c := range combos {
		slices.SortStableFunc(c.results, func(a, b SeedResult) int {
			return cmp.Or(cmp.Compare(a.Seed, b.Seed), cmp.Compare(a.Run, b.Run))
		})
		e := Entry{
			Combination: c.name,
			Present:     c.present,
			Seeds:       make([]int64, len(c.results)),
			Runs:        make([]string, len(c.results)),
		}
		acc := make([]float64, len(c.results))
		for i, r := range c.results {
			e.Seeds[i], e.Runs[i], acc[i] = r.Seed, r.Run, r.Accuracy
		}
		e.Accuracy, e.Std = meanStd(acc)
		s.Entries = append(s.Entries, e)
	}
	return s
}

// parsePositions returns the positions of the named modalities, and false when a name is
// unknown or repeated.
func parsePositions(names []string, index map[string]int) ([]int, bool) {
	positions := make([]int, len(names))
	seen := map[int]bool{}
	for i, n := range names {
		p, ok := index[n]
		if !ok || seen[p] {
			return nil, false
		}
		seen[p] = true
		positions[i] = p
	}
	return positions, true
}

// meanStd returns the mean and the sample standard deviation (ddof=1) of x; the deviation
// is 0 for fewer than two values.
func meanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}

// Lookup returns the entry of the named combination and whether there is one. The name
// must be in modality order, as sweeps name combinations.
func (s *Set) Lookup(combination string) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	for _, e := range s.Entries {
		if e.Combination == combination {
			return e, true
		}
	}
	return Entry{}, false
}

// Check reports whether s holds specialists of the given modalities, those of the model
// they are to be compared with.
func (s *Set) Check(modalities []string) error {
	if !slices.Equal(s.Modalities, modalities) {
		return fmt.Errorf("specialists of modalities [%s], model of [%s] (train specialists on the model's data)",
			strings.Join(s.Modalities, ", "), strings.Join(modalities, ", "))
	}
	return nil
}

// Save writes s as indented JSON to dir's specialists.json, atomically, creating dir if
// needed.
func (s *Set) Save(dir string) error {
	path := filepath.Join(dir, File)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

// Load reads the Set in dir's specialists.json. Errors are one line and name the file (or,
// when there is none, the directory and how to make it).
func Load(dir string) (*Set, error) {
	path := filepath.Join(dir, File)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s (train them with dmrnet specialists --config FILE --out %s)", dir, File, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: decode: %w", path, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// validate reports entries that cannot be compared with: unnamed or repeated combinations
// and accuracies outside [0, 1].
func (s *Set) validate() error {
	seen := map[string]bool{}
	for i, e := range s.Entries {
		switch {
		case e.Combination == "":
			return fmt.Errorf("specialist %d has no combination name", i)
		case seen[e.Combination]:
			return fmt.Errorf("combination %q appears twice", e.Combination)
		case !(e.Accuracy >= 0 && e.Accuracy <= 1):
			return fmt.Errorf("combination %q: accuracy %v outside [0, 1]", e.Combination, e.Accuracy)
		case !(e.Std >= 0) || math.IsInf(e.Std, 0):
			return fmt.Errorf("combination %q: invalid std %v", e.Combination, e.Std)
		}
		seen[e.Combination] = true
	}
	return nil
}

// unwrapPath returns the cause of a *fs.PathError, whose text repeats the path.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
