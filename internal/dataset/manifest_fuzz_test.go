package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadManifest checks that the manifest parser never panics, that its errors are one
// line naming the manifest, and that what it accepts keeps its promises: unique non-empty ids,
// known splits, at least one file per row, labels that index the classes (without class names:
// each class on two rows or more, one in train, at most MaxClasses), and every file inside the
// manifest's folder.
func FuzzReadManifest(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("..", "..", "testdata", "manifest", "manifest.csv"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(fixture), true)
	f.Add(string(fixture), false)
	for _, s := range []string{
		"id,label,split,a,b\nx,live,train,a.png,\ny,spoof,train,,b.wav\nz,live,test,a.png,b.wav\nw,spoof,test,c.png,\n",
		"id,label,split,a,b\r\nx,live,train,../../etc/passwd,\r\ny,live,test,/etc/passwd,\r\n",
		"\ufeffid,label,split,a,b\nx,\"li,ve\",train,\"a\nb.png\",\n",
		"id,label,split,a,b\nx,0,train,sub/../a.png,\ny,1,val,./b.png,b\nz,1,train,a,\n",
		"b,a,split,label,id\n1,2,train,live,x\n",
		"id,label,split,a,b\nx,live,TRAIN,a,\nx,live,test,a,\n",
		"id,label,split,a\n",
		"",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "m.csv")
	f.Fuzz(func(t *testing.T, manifest string, named bool) {
		if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		spec := ManifestSpec{Path: path, IDColumn: "id", LabelColumn: "label", SplitColumn: "split",
			Modalities: []ManifestModality{{Name: "a", Column: "a", Type: "image"}, {Name: "b", Column: "b", Type: "audio"}}}
		if named {
			spec.ClassNames = []string{"live", "spoof"}
		}
		rows, classes, err := readManifest(spec)
		if err != nil {
			if msg := err.Error(); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(msg, path) || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error %q is not one line naming the manifest", msg)
			}
			return
		}
		if len(rows) == 0 || len(classes) == 0 || len(classes) > MaxClasses {
			t.Fatalf("%d rows, %d classes", len(rows), len(classes))
		}
		count := map[int]int{}
		train := map[int]int{}
		ids := map[string]bool{}
		for _, r := range rows {
			if r.id == "" || ids[r.id] {
				t.Fatalf("line %d: id %q empty or repeated", r.line, r.id)
			}
			ids[r.id] = true
			if r.split != "train" && r.split != "val" && r.split != "test" {
				t.Fatalf("line %d: split %q", r.line, r.split)
			}
			if r.label < 0 || r.label >= len(classes) {
				t.Fatalf("line %d: label %d of %d classes", r.line, r.label, len(classes))
			}
			count[r.label]++
			if r.split == "train" {
				train[r.label]++
			}
			files := 0
			for _, p := range r.files {
				if p == "" {
					continue
				}
				files++
				if !within(dir, p) {
					t.Fatalf("line %d: file %q lies outside %s", r.line, p, dir)
				}
			}
			if files == 0 || len(r.files) != 2 {
				t.Fatalf("line %d: files %q", r.line, r.files)
			}
		}
		if !named {
			for c, name := range classes {
				if count[c] < 2 || train[c] == 0 {
					t.Fatalf("class %q has %d rows, %d in train", name, count[c], train[c])
				}
			}
		}
	})
}
