package dataset

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/dmrnet/dmrnet/internal/table"
)

// TableSpec describes a multi-view table data set such as mfeat: one numeric matrix per view
// with rows aligned across files, a labels file and a split.
type TableSpec struct {
	Name  string
	Views []TableView
	// Labels holds one class index 0..C-1 per row. Without ClassNames every class 0..C-1
	// must occur and C is at most MaxClasses; with them, labels are below len(ClassNames)
	// and a class may have no row (see tableLabels).
	Labels     string
	ClassNames []string
	// SplitFile holds 0 (train) or 1 (test) per row; without it TestFraction of every class
	// is drawn for the test split with SplitSeed.
	SplitFile    string
	TestFraction float64
	SplitSeed    uint64
	// Standardize every column with the training statistics.
	Standardize bool
}

// TableView is one view: its name and file (CSV or NPY).
type TableView struct {
	Name, Path, Format string
}

// LoadTable reads a table data set, decoding the files in parallel. It returns the data set
// (not yet standardised) and the standardisations it asks for.
func LoadTable(spec TableSpec) (*Dataset, []StandardizeSpec, error) {
	files := append([]string{spec.Labels}, spec.SplitFile)
	formats := []string{"", ""}
	for _, v := range spec.Views {
		files = append(files, v.Path)
		formats = append(formats, v.Format)
	}
	mats := make([]*table.Matrix, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		if f == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mats[i], errs[i] = readMatrix(f, formats[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, invalidf("%v", err)
		}
	}
	labels, split := mats[0], mats[1]
	n := labels.Rows
	if labels.Cols != 1 {
		return nil, nil, invalidf("%s: %d columns, a labels file has one (give one class index per row)", spec.Labels, labels.Cols)
	}
	y, classes, err := tableLabels(spec.Labels, labels.Data, spec.ClassNames)
	if err != nil {
		return nil, nil, err
	}
	d := &Dataset{Name: spec.Name, Classes: classes}
	var x [][]float32
	for k, v := range spec.Views {
		m := mats[2+k]
		if m.Rows != n {
			return nil, nil, invalidf("%s: %d rows, but %s has %d (the files of a table data set must have one row per sample, in the same order)",
				v.Path, m.Rows, spec.Labels, n)
		}
		d.Modalities = append(d.Modalities, Modality{Name: v.Name, Shape: []int{m.Cols}})
		col, err := toFloat32(v.Path, m)
		if err != nil {
			return nil, nil, err
		}
		x = append(x, col)
	}
	all := &Split{X: x, Y: y}
	var trainIdx, testIdx []int
	if split != nil {
		if split.Rows != n || split.Cols != 1 {
			return nil, nil, invalidf("%s: %d rows x %d columns, want %d x 1 (0 = train, 1 = test)", spec.SplitFile, split.Rows, split.Cols, n)
		}
		for i, v := range split.Data {
			switch v {
			case 0:
				trainIdx = append(trainIdx, i)
			case 1:
				testIdx = append(testIdx, i)
			default:
				return nil, nil, invalidf("%s: row %d: %v is not 0 (train) or 1 (test)", spec.SplitFile, i+1, v)
			}
		}
	} else {
		trainIdx, testIdx = stratifiedSplit(y, spec.TestFraction, spec.SplitSeed)
	}
	if len(trainIdx) == 0 || len(testIdx) == 0 {
		return nil, nil, invalidf("%s: the split leaves %d training and %d test samples (both must be non-empty)", spec.Name, len(trainIdx), len(testIdx))
	}
	d.Train = all.Subset(trainIdx, d.Modalities)
	d.Test = all.Subset(testIdx, d.Modalities)
	var std []StandardizeSpec
	if spec.Standardize {
		for m := range d.Modalities {
			std = append(std, StandardizeSpec{Modality: m, PerColumn: true})
		}
	}
	return d, std, nil
}

func readMatrix(path, format string) (*table.Matrix, error) {
	switch format {
	case "csv", "npy":
		return table.ReadFileAs(path, format)
	}
	return table.ReadFile(path)
}

// stratifiedSplit draws round(frac * count) samples of every class for the test split.
func stratifiedSplit(y []int, frac float64, seed uint64) (train, test []int) {
	rng := rand.New(rand.NewPCG(seed, 0x7370_6c69_7420_7465)) // "split te"
	byClass := map[int][]int{}
	for i, c := range y {
		byClass[c] = append(byClass[c], i)
	}
	classes := make([]int, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	sort.Ints(classes)
	for _, c := range classes {
		idx := byClass[c]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		k := int(math.Round(frac * float64(len(idx))))
		test = append(test, idx[:k]...)
		train = append(train, idx[k:]...)
	}
	sort.Ints(train)
	sort.Ints(test)
	return train, test
}
