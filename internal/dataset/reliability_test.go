package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/imageio"
)

// lines joins values one per line.
func lines(vals ...any) string {
	var b strings.Builder
	for _, v := range vals {
		fmt.Fprintln(&b, v)
	}
	return b.String()
}

// tableOf writes a one-view table of n rows with the given labels file content.
func tableOf(t *testing.T, labels string) TableSpec {
	t.Helper()
	dir := t.TempDir()
	n := strings.Count(labels, "\n")
	var view strings.Builder
	for i := range n {
		fmt.Fprintf(&view, "%d,1\n", i)
	}
	return TableSpec{
		Name:         "t",
		Views:        []TableView{{Name: "a", Path: write(t, dir, "a.csv", view.String())}},
		Labels:       write(t, dir, "labels.csv", labels),
		TestFraction: 0.5,
	}
}

func TestMaxClassesAgree(t *testing.T) {
	if MaxClasses != config.MaxClasses {
		t.Fatalf("dataset.MaxClasses %d, config.MaxClasses %d", MaxClasses, config.MaxClasses)
	}
}

// TestTableLabelRules checks the labels of a table data set: without class names the
// classes are 0..C-1, each with a row, C <= MaxClasses; a stray label is reported at its row
// before any class is created.
func TestTableLabelRules(t *testing.T) {
	contiguous := func(c int) string {
		var b strings.Builder
		for i := range c {
			fmt.Fprintln(&b, i)
			fmt.Fprintln(&b, i)
		}
		return b.String()
	}
	tests := []struct {
		name    string
		labels  string
		names   []string
		want    []string // "" first element: no error
		classes int
	}{
		{"0..9", contiguous(10), nil, nil, 10},
		{"stray 999999", contiguous(8) + lines(8, 9, 999999, 9, 8), nil,
			[]string{"labels.csv row 19: label 999999, but no row has a label in 10..999998 (the labels use 0..9, 999999; classes must be 0..C-1, each with a row: fix the label, or name every class with data.table.class_names)"}, 0},
		{"labels 1..10", lines(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2), nil,
			[]string{"labels.csv: no row has label 0; the labels use 1..10 (classes must be 0..C-1, each with a row: renumber them from 0, or name every class with data.table.class_names)"}, 0},
		{"gap", lines(0, 1, 2, 4, 5, 0, 1, 2, 5, 4), nil,
			[]string{"labels.csv row 4: label 4, but no row has label 3 (the labels use 0..2, 4..5;"}, 0},
		{"huge", lines(0, 1, 1e300, 0), nil, []string{"labels.csv row 3: label 1e+300 is far beyond the 10000 classes dmrnet supports"}, 0},
		{"negative", lines(0, 1, -1, 0), nil, []string{"labels.csv row 3: label -1 is not a class index"}, 0},
		{"too many classes", contiguous(MaxClasses + 1), nil,
			[]string{"labels.csv: 10001 classes (labels 0..10000), more than the 10000 dmrnet supports (merge classes, or split the task)"}, 0},
		{"at the limit", contiguous(MaxClasses), nil, nil, MaxClasses},
		{"named, beyond the names", lines(0, 1, 2, 0), []string{"a", "b"},
			[]string{"labels.csv row 3: label 2, but data.table.class_names names 2 classes (labels must be 0..1;"}, 0},
		{"named, a class without rows", lines(0, 2, 0, 2), []string{"a", "b", "c"}, nil, 3},
		{"named, stray far beyond", lines(0, 1, 999999, 0), []string{"a", "b"}, []string{"labels.csv row 3: label 999999, but data.table.class_names names 2 classes"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tableOf(t, tt.labels)
			spec.ClassNames = tt.names
			d, _, err := LoadTable(spec)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(d.Classes) != tt.classes {
					t.Fatalf("%d classes, want %d", len(d.Classes), tt.classes)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			msg := strings.TrimPrefix(err.Error(), filepath.Dir(spec.Labels)+string(filepath.Separator))
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
		})
	}
}

// TestTableFloat32Range checks that a value beyond the float32 range, which float64 parsing
// accepts, is reported at its file, row and column when the table is read.
func TestTableFloat32Range(t *testing.T) {
	for _, tt := range []struct {
		name, view, want string
	}{
		{"1e39", "1,2\n3,1e39\n5,6\n7,8\n", "a.csv row 2, column 2: value 1e+39 is beyond the float32 range of ±3.4e38"},
		{"-1e39", "1,2\n3,4\n-1e39,6\n7,8\n", "a.csv row 3, column 1: value -1e+39 is beyond the float32 range"},
		{"max float32 is fine", "1,2\n3,3.4028234e38\n5,6\n7,8\n", ""},
		{"tiny values underflow to 0", "1,2\n3,1e-50\n5,6\n7,8\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := tableOf(t, lines(0, 1, 0, 1))
			spec.Views[0].Path = write(t, t.TempDir(), "a.csv", tt.view)
			_, _, err := LoadTable(spec)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), spec.Views[0].Path) {
				t.Fatalf("err = %v, want %q naming %s", err, tt.want, spec.Views[0].Path)
			}
		})
	}
}

// manifestSpec is a one-modality (npy of shape [2]) manifest spec for path.
func manifestSpec(path string) ManifestSpec {
	return ManifestSpec{Path: path, IDColumn: "id", LabelColumn: "label", SplitColumn: "split",
		Modalities: []ManifestModality{{Name: "v", Column: "v", Type: "npy", Shape: []int{2}}}}
}

// TestManifestLabelRules checks that a manifest without class names refuses labels that look
// like typos: a label on a single row, or one without a training row, at its line, with the
// closest label as a suggestion and data.manifest.class_names as the fix.
func TestManifestLabelRules(t *testing.T) {
	const head = "id,label,split,v\n"
	tests := []struct {
		name     string
		manifest string
		names    []string
		want     string // "" = no error
		classes  []string
	}{
		{"ok", head + "a,live,train,x\nb,spoof,train,x\nc,live,test,x\nd,spoof,test,x\n", nil, "", []string{"live", "spoof"}},
		{"typo on one row", head + "a,live,train,x\nb,spoof,train,x\nc,live,test,x\nd,spoof,test,x\ne,lvie,train,x\n", nil,
			`m.csv line 6: label "lvie" occurs on this row only; did you mean "live"? (without data.manifest.class_names every label is a class and needs two rows or more, one of them in train: fix the label, or list the classes in data.manifest.class_names)`, nil},
		{"only in test", head + "a,live,train,x\nb,spoof,train,x\nc,mask,test,x\nd,mask,val,x\ne,live,test,x\nf,spoof,test,x\n", nil,
			`m.csv line 4: label "mask" has no training row (its 2 rows are all in val or test) (without data.manifest.class_names`, nil},
		{"first offending line wins", head + "a,live,train,x\nb,spoof,train,x\nc,Live,test,x\nd,spof,test,x\ne,live,train,x\nf,spoof,test,x\n", nil,
			`m.csv line 4: label "Live" occurs on this row only; did you mean "live"?`, nil},
		{"no suggestion when nothing is close", head + "a,live,train,x\nb,spoof,train,x\nc,live,test,x\nd,zzzzzzzz,test,x\ne,spoof,test,x\n", nil,
			`m.csv line 5: label "zzzzzzzz" occurs on this row only (without`, nil},
		{"empty label", head + "a,live,train,x\nb,,train,x\n", nil, `m.csv line 3 (id b): empty label (every sample needs its class)`, nil},
		{"named classes allow rare labels", head + "a,live,train,x\nb,spoof,train,x\nc,mask,test,x\n", []string{"live", "spoof", "mask"}, "", []string{"live", "spoof", "mask"}},
		{"named classes suggest too", head + "a,live,train,x\nb,lvie,train,x\n", []string{"live", "spoof"},
			`m.csv line 3: label "lvie" is not one of the classes live, spoof (did you mean "live"? fix the label, or add the class to data.manifest.class_names)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := manifestSpec(write(t, t.TempDir(), "m.csv", tt.manifest))
			spec.ClassNames = tt.names
			_, classes, err := readManifest(spec)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(classes, ",") != strings.Join(tt.classes, ",") {
					t.Fatalf("classes %v, want %v", classes, tt.classes)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			msg := strings.TrimPrefix(err.Error(), filepath.Dir(spec.Path)+string(filepath.Separator))
			if !strings.HasPrefix(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line starting %q", msg, tt.want)
			}
		})
	}
}

func TestManifestTooManyLabels(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,label,split,v\n")
	for i := range MaxClasses + 1 {
		fmt.Fprintf(&b, "a%d,c%d,train,x\nb%d,c%d,test,x\n", i, i, i, i)
	}
	_, _, err := readManifest(manifestSpec(write(t, t.TempDir(), "m.csv", b.String())))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "m.csv: 10001 distinct labels, more than the 10000 classes dmrnet supports") {
		t.Fatalf("err = %v", err)
	}
}

// npyFile writes a little-endian float64 NPY file of the given values (shape [len]).
func npyFile(t *testing.T, dir, name string, vals ...float64) string {
	t.Helper()
	header := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }", len(vals))
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	b = append(b, header...)
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestManifestPathConfinement checks that manifest paths stay inside the manifest's folder
// or data.root unless allow_outside is set, that nothing outside is opened, and that errors
// never quote the content of the files they name.
func TestManifestPathConfinement(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "set")
	for _, d := range []string{dir, filepath.Join(dir, "sub"), filepath.Join(root, "shared")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outside := t.TempDir()
	secret := write(t, outside, "secret.txt", "root:x:0:0:hunter2\n")
	npyFile(t, dir, "a.npy", 1, 2)
	npyFile(t, filepath.Join(dir, "sub"), "b.npy", 3, 4)
	npyFile(t, filepath.Join(root, "shared"), "c.npy", 5, 6)
	npyFile(t, outside, "d.npy", 7, 8)
	big := npyFile(t, dir, "big.npy", 1, 1e39)
	rel, err := filepath.Rel(dir, secret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		path         string // the cell of the second row
		root         string
		allowOutside bool
		want         string // "" = loads
	}{
		{"inside", "sub/b.npy", "", false, ""},
		{"dot-dot that stays inside", "sub/../a.npy", "", false, ""},
		{"inside data.root", "../shared/c.npy", root, false, ""},
		{"absolute inside", filepath.Join(dir, "sub", "b.npy"), "", false, ""},
		{"escapes the folder", rel, "", false, "lies outside the manifest's folder " + dir + " (write paths relative to the manifest, inside its folder; set data.manifest.allow_outside: true to read files elsewhere)"},
		{"escapes data.root", rel, root, false, "lies outside the manifest's folder " + dir + " and data.root " + root},
		{"../../etc/passwd", "../../etc/passwd", "", false, `path "../../etc/passwd" lies outside`},
		{"absolute outside", secret, root, false, "lies outside"},
		{"allowed outside", filepath.Join(outside, "d.npy"), "", true, ""},
		{"allowed outside, relative", filepath.Join(rel, "..", "d.npy"), "", true, ""},
		{"allowed, but not an NPY file", secret, "", true, "not an NPY file: it does not start with"},
		{"float32 range", filepath.Base(big), "", false, "big.npy: element 1 of shape [2]: value 1e+39 is beyond the float32 range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := write(t, dir, "m.csv", fmt.Sprintf("id,label,split,v\na,x,train,a.npy\nb,y,train,%s\nc,x,test,a.npy\nd,y,test,a.npy\n", tt.path))
			spec := manifestSpec(m)
			spec.ClassNames = []string{"x", "y"}
			spec.Root, spec.AllowOutside = tt.root, tt.allowOutside
			d, _, err := LoadManifest(spec)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := d.Train.X[0][2:4]; got[0] == 0 {
					t.Fatalf("row b: %v", got)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, m+" line 3") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line starting %q containing %q", msg, m+" line 3", tt.want)
			}
			for _, leak := range []string{"root:x", "hunter2", "72 6f"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("error %q quotes the file's content", msg)
				}
			}
		})
	}
}

// TestManifestImageSizeLimit checks that an image over imageio.MaxPixels is refused with
// its manifest line and size.
func TestManifestImageSizeLimit(t *testing.T) {
	defer func(old int) { imageio.MaxPixels = old }(imageio.MaxPixels)
	imageio.MaxPixels = 3
	dir := t.TempDir()
	img := filepath.Join(dir, "g.png")
	writePNG(t, img, 2, 2)
	m := write(t, dir, "m.csv", "id,label,split,v\na,x,train,g.png\nb,y,test,g.png\n")
	spec := ManifestSpec{Path: m, IDColumn: "id", LabelColumn: "label", SplitColumn: "split", ClassNames: []string{"x", "y"},
		Modalities: []ManifestModality{{Name: "v", Column: "v", Type: "image", Image: imageio.Spec{Channels: 1, Height: 2, Width: 2, Mean: []float64{0}, Std: []float64{1}}}}}
	_, _, err := LoadManifest(spec)
	want := m + " line 2 (id a), column v: " + img + ": the image has 2 x 2 pixels, more than the 3"
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want %q...", err, want)
	}
}

// writePNG writes a w x h grey PNG file.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
}
