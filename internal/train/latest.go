package train

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Bounds of LatestFinished's search, so that a large tree under the root (a data set copied
// into runs/, a home directory) costs little: directories deeper than LatestMaxDepth below the
// root, and any beyond the first LatestMaxDirs, are not visited.
const (
	LatestMaxDepth = 4
	LatestMaxDirs  = 10000
)

// Latest is what LatestFinished found under a root.
type Latest struct {
	// Dir is the run directory with the newest final.ckpt ("" when none has one), Finished
	// that file's modification time.
	Dir      string
	Finished time.Time
	// Unfinished is the run directory with the newest checkpoint.ckpt among those without a
	// final.ckpt ("" when there is none): the hint when no run has finished.
	Unfinished string
	// Truncated reports that the search stopped at LatestMaxDirs directories.
	Truncated bool
}

// LatestFinished searches root and its subdirectories, at most LatestMaxDepth levels deep and
// LatestMaxDirs directories in all, for the finished run (a directory holding final.ckpt)
// whose final.ckpt was written last. Hidden directories and symbolic links are not followed.
// Ties go to the lexically first directory. A root that does not exist is no error: the
// result is empty.
func LatestFinished(root string) (Latest, error) {
	var out Latest
	var unfinished time.Time
	dirs := 0
	root = filepath.Clean(root)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // an unreadable subdirectory is skipped, not fatal
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if dirs++; dirs > LatestMaxDirs {
			out.Truncated = true
			return filepath.SkipAll
		}
		if fi, err := os.Stat(filepath.Join(path, FinalFile)); err == nil && fi.Mode().IsRegular() {
			if t := fi.ModTime(); out.Dir == "" || t.After(out.Finished) {
				out.Dir, out.Finished = path, t
			}
		} else if fi, err := os.Stat(filepath.Join(path, CheckpointFile)); err == nil && fi.Mode().IsRegular() {
			if t := fi.ModTime(); out.Unfinished == "" || t.After(unfinished) {
				out.Unfinished, unfinished = path, t
			}
		}
		if rel, err := filepath.Rel(root, path); err == nil && rel != "." && strings.Count(rel, string(filepath.Separator)) >= LatestMaxDepth-1 {
			return filepath.SkipDir
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return Latest{}, nil
	}
	return out, err
}
