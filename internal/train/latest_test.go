package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLatestFinished: the newest final.ckpt wins wherever it is within the depth bound; runs
// without one, hidden directories and deeper directories are not candidates.
func TestLatestFinished(t *testing.T) {
	root := t.TempDir()
	base := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)
	touch := func(rel string, age time.Duration) {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, base.Add(-age), base.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := LatestFinished(filepath.Join(root, "none")); err != nil || got != (Latest{}) {
		t.Fatalf("missing root: %+v, %v", got, err)
	}
	touch("sweep/lr=0.1/seed=0/final.ckpt", 3*time.Hour)
	touch("quickstart/final.ckpt", time.Hour)
	touch("unfinished/checkpoint.ckpt", 0)            // newer, but not finished
	touch(".trash/quickstart/final.ckpt", -time.Hour) // hidden
	touch("a/b/c/d/final.ckpt", -2*time.Hour)         // depth 4: found
	touch("a/b/c/d/e/final.ckpt", -3*time.Hour)       // depth 5: beyond the bound
	got, err := LatestFinished(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "a/b/c/d"); got.Dir != want || !got.Finished.Equal(base.Add(2*time.Hour)) {
		t.Errorf("latest = %s at %v, want %s", got.Dir, got.Finished, want)
	}
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	got, err = LatestFinished(root)
	if err != nil || got.Dir != filepath.Join(root, "quickstart") || got.Unfinished != filepath.Join(root, "unfinished") || got.Truncated {
		t.Errorf("latest = %+v, %v; want quickstart, unfinished", got, err)
	}
	if err := os.RemoveAll(filepath.Join(root, "quickstart")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "sweep")); err != nil {
		t.Fatal(err)
	}
	got, err = LatestFinished(root)
	if err != nil || got.Dir != "" || !strings.HasSuffix(got.Unfinished, "unfinished") {
		t.Errorf("only an unfinished run: %+v, %v", got, err)
	}
}
