package manifestgen

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWrite checks the generated manifest: one row per sample, labels cycling through the
// classes, every class in both splits, no sample without both images, the files present
// exactly where the cells name them, and the same bytes from the same spec.
func TestWrite(t *testing.T) {
	spec := Spec{Samples: 60, Classes: 3, Size: 8, TestEvery: 4, MissingGray: 0.3, MissingRGB: 0.3, Noise: 20, Seed: 9}
	a, b := t.TempDir(), t.TempDir()
	pa, err := Write(a, spec)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Write(b, spec)
	if err != nil {
		t.Fatal(err)
	}
	ma, _ := os.ReadFile(pa)
	mb, _ := os.ReadFile(pb)
	if string(ma) != string(mb) {
		t.Fatal("the same spec wrote different manifests")
	}
	f, err := os.Open(pa)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 61 || strings.Join(recs[0], ",") != "id,label,split,gray,rgb" {
		t.Fatalf("%d records, header %v", len(recs), recs[0])
	}
	splits := map[string]map[string]bool{"train": {}, "test": {}}
	missing := 0
	for i, r := range recs[1:] {
		if want := []string{"c0", "c1", "c2"}[i%3]; r[1] != want {
			t.Fatalf("row %d: label %s, want %s", i, r[1], want)
		}
		splits[r[2]][r[1]] = true
		if r[3] == "" && r[4] == "" {
			t.Fatalf("row %d has no image", i)
		}
		for _, cell := range r[3:] {
			if cell == "" {
				missing++
				continue
			}
			ca, err := os.ReadFile(filepath.Join(a, cell))
			if err != nil {
				t.Fatal(err)
			}
			cb, _ := os.ReadFile(filepath.Join(b, cell))
			if string(ca) != string(cb) {
				t.Fatalf("%s differs between two writes", cell)
			}
		}
	}
	if len(splits["train"]) != 3 || len(splits["test"]) != 3 {
		t.Fatalf("classes per split: %v", splits)
	}
	if missing == 0 {
		t.Fatal("no cell is missing")
	}
}

func TestValidate(t *testing.T) {
	ok := Spec{Samples: 20, Classes: 2, Size: 8, TestEvery: 2}
	for _, tc := range []struct {
		name   string
		mutate func(s *Spec)
		want   string
	}{
		{"ok", func(*Spec) {}, ""},
		{"few samples", func(s *Spec) { s.Samples = 3 }, "3 samples for 2 classes"},
		{"one class", func(s *Spec) { s.Classes = 1 }, "1 classes"},
		{"tiny", func(s *Spec) { s.Size = 2 }, "image size 2"},
		{"test_every", func(s *Spec) { s.TestEvery = 1 }, "test_every 1"},
		{"missing", func(s *Spec) { s.MissingGray, s.MissingRGB = 0.6, 0.6 }, "together <= 1"},
	} {
		s := ok
		tc.mutate(&s)
		err := s.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
