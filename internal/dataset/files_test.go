package dataset

import (
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/audio"
	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/imageio"
)

// dataRoot is the shared real data, or "" (tests that need it skip).
func dataRoot(t *testing.T) string {
	t.Helper()
	root := os.Getenv("DMRNET_DATA_ROOT")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(root); err != nil {
		t.Skipf("real data not found at %s (set DMRNET_DATA_ROOT): %v", root, err)
	}
	return root
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// smallTable writes a 2-view table of 8 rows: view a has a constant column.
func smallTable(t *testing.T) TableSpec {
	dir := t.TempDir()
	return TableSpec{
		Name: "small",
		Views: []TableView{
			{Name: "a", Path: write(t, dir, "a.csv", "1,5\n2,5\n3,5\n4,5\n5,5\n6,5\n7,5\n8,5\n")},
			{Name: "b", Path: write(t, dir, "b.csv", "0.5\n1.5\n2.5\n3.5\n4.5\n5.5\n6.5\n7.5\n")},
		},
		Labels:      write(t, dir, "labels.csv", "0\n1\n0\n1\n0\n1\n0\n1\n"),
		SplitFile:   write(t, dir, "split.csv", "0\n0\n0\n0\n0\n0\n1\n1\n"),
		Standardize: true,
	}
}

func TestLoadTableAndStandardize(t *testing.T) {
	d, std, err := LoadTable(smallTable(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len() != 6 || d.Test.Len() != 2 || len(d.Classes) != 2 || d.Modalities[0].Size() != 2 {
		t.Fatalf("shapes: train %d test %d classes %v mods %+v", d.Train.Len(), d.Test.Len(), d.Classes, d.Modalities)
	}
	if err := d.Standardize(std, nil); err != nil {
		t.Fatal(err)
	}
	// column 0 of a: train values 1..6, mean 3.5, population std sqrt(35/12)
	n := d.Norms[0]
	if !n.PerColumn || math.Abs(n.Mean[0]-3.5) > 1e-12 || math.Abs(n.Std[0]-math.Sqrt(35.0/12)) > 1e-12 {
		t.Fatalf("norm of a: %+v", n)
	}
	if n.Std[1] != 1 || d.Train.X[0][1] != 0 {
		t.Fatalf("constant column: std %v, value %v (want 1 and 0)", n.Std[1], d.Train.X[0][1])
	}
	// the test rows (7, 8) use the training statistics
	if got, want := float64(d.Test.X[0][0]), (7-3.5)/math.Sqrt(35.0/12); math.Abs(got-want) > 1e-6 {
		t.Fatalf("test value %v, want %v", got, want)
	}
	// stored norms are applied as given
	e, std2, _ := LoadTable(smallTable(t))
	stored := []Norm{{Modality: "a", PerColumn: true, Mean: []float64{0, 0}, Std: []float64{2, 2}}, {Modality: "b", PerColumn: true, Mean: []float64{0}, Std: []float64{1}}}
	if err := e.Standardize(std2, stored); err != nil {
		t.Fatal(err)
	}
	if e.Train.X[0][0] != 0.5 || e.Train.X[0][1] != 2.5 {
		t.Fatalf("stored norm not applied: %v", e.Train.X[0][:2])
	}
	if err := e.Standardize(std2, stored[:1]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mismatched stored norms: %v", err)
	}
}

func TestTableStratifiedSplit(t *testing.T) {
	spec := smallTable(t)
	spec.SplitFile = ""
	spec.TestFraction = 0.25
	spec.SplitSeed = 3
	d, _, err := LoadTable(spec)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	for _, y := range d.Test.Y {
		count[y]++
	}
	if d.Test.Len() != 2 || count[0] != 1 || count[1] != 1 {
		t.Fatalf("test split %v", d.Test.Y)
	}
}

func TestTableErrors(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, s *TableSpec)
		want   []string
	}{
		{"row count", func(t *testing.T, s *TableSpec) {
			s.Views[1].Path = write(t, t.TempDir(), "b.csv", "1\n2\n3\n")
		}, []string{"b.csv: 3 rows", "labels.csv has 8"}},
		{"ragged", func(t *testing.T, s *TableSpec) {
			s.Views[0].Path = write(t, t.TempDir(), "a.csv", "1,2\n3\n")
		}, []string{"a.csv", "2"}},
		{"non-numeric", func(t *testing.T, s *TableSpec) {
			s.Views[1].Path = write(t, t.TempDir(), "b.csv", "1\nabc\n")
		}, []string{"b.csv", "abc"}},
		{"nan", func(t *testing.T, s *TableSpec) {
			s.Views[1].Path = write(t, t.TempDir(), "b.csv", "1\nNaN\n")
		}, []string{"b.csv", "NaN"}},
		{"label out of range", func(t *testing.T, s *TableSpec) {
			s.ClassNames = []string{"x", "y"}
			s.Labels = write(t, t.TempDir(), "labels.csv", "0\n1\n2\n1\n0\n1\n0\n1\n")
		}, []string{"labels.csv", "row 3", "label 2"}},
		{"label not integer", func(t *testing.T, s *TableSpec) {
			s.Labels = write(t, t.TempDir(), "labels.csv", "0\n1.5\n0\n1\n0\n1\n0\n1\n")
		}, []string{"row 2", "1.5"}},
		{"split value", func(t *testing.T, s *TableSpec) {
			s.SplitFile = write(t, t.TempDir(), "split.csv", "0\n0\n2\n0\n0\n0\n1\n1\n")
		}, []string{"split.csv", "row 3"}},
		{"missing file", func(t *testing.T, s *TableSpec) {
			s.Views[0].Path = filepath.Join(t.TempDir(), "nope.csv")
		}, []string{"nope.csv"}},
	}
	for _, tt := range tests {
		spec := smallTable(t)
		tt.break_(t, &spec)
		_, _, err := LoadTable(spec)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tt.name, err)
		}
	}
}

func fixtureSpec(t *testing.T) ManifestSpec {
	mel := MelSpec{Samples: 1024, MelSpec: audio.MelSpec{SampleRate: 8000, NFFT: 128, Hop: 64, NMels: 8, FMin: 0, FMax: 4000}}
	return ManifestSpec{
		Path:     filepath.Join("..", "..", "testdata", "manifest", "manifest.csv"),
		IDColumn: "id", LabelColumn: "label", SplitColumn: "split",
		ClassNames: []string{"live", "spoof"},
		Modalities: []ManifestModality{
			{Name: "rgb", Column: "rgb", Type: "image", Image: imageio.Spec{Channels: 3, Height: 8, Width: 8, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.25, 0.25, 0.25}}},
			{Name: "depth", Column: "depth", Type: "image", Image: imageio.Spec{Channels: 1, Height: 4, Width: 4, Mean: []float64{0.5}, Std: []float64{0.1}}},
			{Name: "audio", Column: "audio", Type: "audio", Mel: mel},
		},
	}
}

// TestManifestMissingCells checks the availability of every sample against the generator's
// rule (rgb missing when i%11==3, depth when i%5==1, audio when i%7==2; rows 36.. are test).
func TestManifestMissingCells(t *testing.T) {
	d, std, err := LoadManifest(fixtureSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len() != 36 || d.Test.Len() != 12 || d.Val != nil {
		t.Fatalf("train %d test %d", d.Train.Len(), d.Test.Len())
	}
	if got := d.Modalities[1].Shape; got[0] != 1 || got[1] != 4 || got[2] != 4 {
		t.Fatalf("depth shape %v", got)
	}
	if got := d.Modalities[2].Shape; got[1] != 8 || got[2] != 15 {
		t.Fatalf("audio shape %v", got)
	}
	if len(std) != 1 || std[0].Modality != 2 {
		t.Fatalf("standardisation %+v", std)
	}
	for i := 0; i < 48; i++ {
		var want combo.Set
		if i%11 != 3 {
			want |= 1
		}
		if i%5 != 1 {
			want |= 2
		}
		if i%7 != 2 {
			want |= 4
		}
		sp, j := d.Train, i
		if i >= 36 {
			sp, j = d.Test, i-36
		}
		if sp.Avail[j] != want {
			t.Errorf("sample %d: available %03b, want %03b", i, sp.Avail[j], want)
		}
		if sp.Y[j] != i%2 {
			t.Errorf("sample %d: label %d", i, sp.Y[j])
		}
		if want&2 == 0 {
			for _, v := range sp.X[1][j*16 : (j+1)*16] {
				if v != 0 {
					t.Fatalf("sample %d: missing depth is not zero", i)
				}
			}
		}
	}
}

func TestManifestErrors(t *testing.T) {
	dir := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	f, _ := os.Create(filepath.Join(dir, "gray.png"))
	png.Encode(f, img)
	f.Close()
	write(t, dir, "bad.png", "this is not a png")
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{
		{"missing file", "id,label,split,rgb\na,live,train,nope.png\n", []string{"line 2", "nope.png"}},
		{"corrupt png", "id,label,split,rgb\na,live,train,bad.png\n", []string{"line 2", "bad.png"}},
		{"channels", "id,label,split,rgb\na,live,train,gray.png\n", []string{"line 2", "gray.png", "convert"}},
		{"split", "id,label,split,rgb\na,live,training,gray.png\n", []string{"line 2", "training"}},
		{"label", "id,label,split,rgb\na,alive,train,gray.png\n", []string{"line 2", "alive"}},
		{"all missing", "id,label,split,rgb\na,live,train,\n", []string{"line 2", "every modality is missing"}},
		{"column", "id,label,part,rgb\na,live,train,gray.png\n", []string{`no column "split"`}},
		{"duplicate id", "id,label,split,rgb\na,live,train,gray.png\na,live,test,gray.png\n", []string{"line 3", `"a"`}},
		{"ragged", "id,label,split,rgb\na,live,train\n", []string{"line 2", "3 fields"}},
	}
	for _, tt := range tests {
		spec := ManifestSpec{Path: write(t, dir, "m.csv", tt.manifest), IDColumn: "id", LabelColumn: "label", SplitColumn: "split",
			ClassNames: []string{"live", "spoof"},
			Modalities: []ManifestModality{{Name: "rgb", Column: "rgb", Type: "image", Image: imageio.Spec{Channels: 3, Height: 2, Width: 2, Mean: []float64{0, 0, 0}, Std: []float64{1, 1, 1}}}}}
		_, _, err := LoadManifest(spec)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, err, w)
			}
		}
	}
}

func TestAVMNISTPairing(t *testing.T) {
	root := dataRoot(t)
	spec := AVMNISTSpec{AudioDir: filepath.Join(root, "fsdd", "recordings"), MNISTDir: filepath.Join(root, "mnist"), TestMaxTake: 4,
		Mel: MelSpec{Samples: 8192, MelSpec: audio.MelSpec{SampleRate: 8000, NFFT: 256, Hop: 128, NMels: 32, FMin: 0, FMax: 4000}}}
	d, std, err := LoadAVMNIST(spec)
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len() != 2700 || d.Test.Len() != 300 || d.Modalities[0].Size() != 32*63 || d.Modalities[1].Size() != 784 {
		t.Fatalf("sizes %d %d %+v", d.Train.Len(), d.Test.Len(), d.Modalities)
	}
	// digit-major order: the first 270 training pairs are zeros, the first 30 test pairs too
	for i := 0; i < 270; i++ {
		if d.Train.Y[i] != 0 {
			t.Fatalf("train sample %d has label %d", i, d.Train.Y[i])
		}
	}
	// the j-th test clip of digit 0 pairs with the j-th zero of the MNIST test set: the
	// first test image of label 0 is t10k index 3 (labels 7, 2, 1, 0, ...)
	labels, err := readIDX(spec.MNISTDir, "t10k-labels-idx1-ubyte")
	if err != nil {
		t.Fatal(err)
	}
	images, _ := readIDX(spec.MNISTDir, "t10k-images-idx3-ubyte")
	first := -1
	for i := 0; i < labels.Dims[0]; i++ {
		if labels.At(i) == 0 {
			first = i
			break
		}
	}
	for p := 0; p < 784; p++ {
		want := float32((float64(images.U8[first*784+p])/255 - mnistMean) / mnistStd)
		if d.Test.X[1][p] != want {
			t.Fatalf("test pair 0 is not MNIST test image %d", first)
		}
	}
	if err := d.Standardize(std, nil); err != nil {
		t.Fatal(err)
	}
	if n := d.Norms[0]; n.PerColumn || len(n.Mean) != 1 || n.Std[0] <= 0 {
		t.Fatalf("audio norm %+v", n)
	}
}

func TestCacheKeyAndReuse(t *testing.T) {
	spec := smallTable(t)
	files := []string{spec.Labels, spec.Views[0].Path}
	k1, err := CacheKey(spec, files)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	builds := 0
	build := func() (*Dataset, []StandardizeSpec, error) { builds++; return LoadTable(spec) }
	a, _, err := Cached(dir, "table", k1, build)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Cached(dir, "table", k1, build)
	if err != nil {
		t.Fatal(err)
	}
	if builds != 1 || a.Train.Len() != b.Train.Len() || a.Train.X[1][3] != b.Train.X[1][3] {
		t.Fatalf("builds %d", builds)
	}
	os.WriteFile(spec.Labels, []byte("1\n1\n0\n1\n0\n1\n0\n1\n"), 0o644)
	if k2, _ := CacheKey(spec, files); k2 == k1 {
		t.Fatal("editing a file kept the cache key")
	}
	spec.Standardize = false
	if k3, _ := CacheKey(spec, files[:1]); k3 == k1 {
		t.Fatal("other settings kept the cache key")
	}
}
