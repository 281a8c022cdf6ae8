package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "new" {
		t.Fatalf("got %q, %v", got, err)
	}
	assertOnlyFiles(t, dir, "a.json")
}

func TestWriteFailureKeepsOldContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "old" {
		t.Fatalf("content %q, want old", got)
	}
	assertOnlyFiles(t, dir, "a.json")
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(want) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("files %v, want %v", names, want)
	}
}

func TestTempBase(t *testing.T) {
	tests := []struct {
		name, base string
		ok         bool
	}{
		{".checkpoint.ckpt.tmp-123456", "checkpoint.ckpt", true},
		{".final.ckpt.tmp-0", "final.ckpt", true},
		{".checkpoint-3-0.ckpt.tmp-42", "checkpoint-3-0.ckpt", true},
		{".a.tmp-b.tmp-9", "a.tmp-b", true},
		{"checkpoint.ckpt.tmp-1", "", false}, // no leading dot
		{".checkpoint.ckpt.tmp-", "", false}, // no digits
		{".checkpoint.ckpt.tmp-12x", "", false},
		{".tmp-12", "", false}, // no base
		{".bashrc", "", false},
		{"checkpoint.ckpt", "", false},
	}
	for _, tt := range tests {
		base, ok := TempBase(tt.name)
		if base != tt.base || ok != tt.ok {
			t.Errorf("TempBase(%q) = %q, %v; want %q, %v", tt.name, base, ok, tt.base, tt.ok)
		}
	}
	// what Write really creates is recognised
	dir := t.TempDir()
	f, err := os.CreateTemp(dir, ".x.json.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if base, ok := TempBase(filepath.Base(f.Name())); !ok || base != "x.json" {
		t.Fatalf("CreateTemp made %s, TempBase = %q, %v", f.Name(), base, ok)
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	files := []string{"checkpoint.ckpt", ".checkpoint.ckpt.tmp-123", ".final.ckpt.tmp-9", ".notes.txt.tmp-1", ".bashrc", "x.tmp-1"}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, ".sub.ckpt.tmp-5"), 0o755) // not a regular file: kept
	ours := func(base string) bool { return strings.HasSuffix(base, ".ckpt") }
	removed, err := RemoveStale(dir, ours)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{".checkpoint.ckpt.tmp-123", ".final.ckpt.tmp-9"}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	assertOnlyFiles(t, dir, "checkpoint.ckpt", ".notes.txt.tmp-1", ".bashrc", "x.tmp-1", ".sub.ckpt.tmp-5")
	if removed, err := RemoveStale(filepath.Join(dir, "none"), nil); err != nil || removed != nil {
		t.Fatalf("missing directory: %v %v", removed, err)
	}
	if removed, _ := RemoveStale(dir, nil); !reflect.DeepEqual(removed, []string{".notes.txt.tmp-1"}) {
		t.Fatalf("nil filter removed %v", removed)
	}
}

func TestPreserve(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a.ckpt"), filepath.Join(dir, "a-1.ckpt")
	if err := WriteFile(src, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Preserve(src, dst); err != nil {
		t.Fatal(err)
	}
	// replacing src with Write leaves the preserved content alone
	if err := WriteFile(src, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if a, b := readString(t, src), readString(t, dst); a != "two" || b != "one" {
		t.Fatalf("src %q dst %q, want two, one", a, b)
	}
	assertOnlyFiles(t, dir, "a.ckpt", "a-1.ckpt")
	if err := Preserve(filepath.Join(dir, "missing"), dst); err == nil || readString(t, dst) != "one" {
		t.Fatalf("preserving a missing file: %v", err)
	}
	assertOnlyFiles(t, dir, "a.ckpt", "a-1.ckpt")
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
