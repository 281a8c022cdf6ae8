package fileerr

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.csv")
	_, err := os.Open(p)
	got := Open(p, err)
	if got.Error() != p+": no such file (check the path)" || !errors.Is(got, fs.ErrNotExist) {
		t.Fatalf("got %q (Is ErrNotExist: %v)", got, errors.Is(got, fs.ErrNotExist))
	}
	if Open(p, nil) != nil {
		t.Fatal("Open(nil) is not nil")
	}
	if got := Open(p, errors.New("boom")); got.Error() != p+": boom" {
		t.Fatalf("got %q", got)
	}
}
