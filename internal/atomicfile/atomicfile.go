// Package atomicfile writes files so that readers see either the old content or the complete
// new content, never a half-written file: the data goes to a temporary file in the same
// directory, which is synced, closed and renamed over the target, and the directory is synced.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile atomically replaces path with data, creating it with perm if it does not exist.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with what fill writes. If fill fails, path is untouched and
// the temporary file is removed.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(dir) // best effort: the rename is durable once the directory is synced
	return nil
}

// tempPrefix and tempInfix are the parts of a temporary file's name around the target's base name:
// ".<base>.tmp-<digits>", as os.CreateTemp makes them from the pattern Write uses.
const (
	tempPrefix = "."
	tempInfix  = ".tmp-"
)

// TempBase reports whether name is the name of a temporary file that Write (or Preserve)
// creates for a target named base, i.e. ".<base>.tmp-<digits>", and returns base.
func TempBase(name string) (base string, ok bool) {
	if !strings.HasPrefix(name, tempPrefix) {
		return "", false
	}
	i := strings.LastIndex(name, tempInfix)
	if i <= len(tempPrefix) {
		return "", false
	}
	digits := name[i+len(tempInfix):]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	return name[len(tempPrefix):i], true
}

// RemoveStale removes the temporary files that an interrupted Write left in dir: files named
// ".<base>.tmp-<digits>" whose base ours accepts (nil accepts every base). A process killed
// between creating and renaming its temporary file (SIGKILL, a power cut) leaves one behind,
// and nothing else removes it. Only call it while no other process writes into dir: a
// writer's file in progress looks the same. It returns the names it removed; a directory that
// does not exist holds nothing stale.
func RemoveStale(dir string, ours func(base string) bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: remove stale temporary files: %w", dir, err)
	}
	var removed []string
	for _, e := range ents {
		base, ok := TempBase(e.Name())
		if !ok || !e.Type().IsRegular() || (ours != nil && !ours(base)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("%s: remove stale temporary file: %w", filepath.Join(dir, e.Name()), err)
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// Preserve atomically makes dst a copy of the file src (replacing dst): a hard link where the
// file system allows one, which copies nothing, else a copy written with Write. src must not
// change in place afterwards; files written with Write never do, since Write replaces them
// with a new file.
func Preserve(src, dst string) error {
	f, err := os.CreateTemp(filepath.Dir(dst), tempPrefix+filepath.Base(dst)+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("preserve %s as %s: %w", src, dst, err)
	}
	tmp := f.Name()
	f.Close()
	// os.Link does not replace: free the name the temporary file reserved, then link to it.
	if err := os.Remove(tmp); err == nil {
		if err := os.Link(src, tmp); err == nil {
			if err := os.Rename(tmp, dst); err != nil {
				os.Remove(tmp)
				return fmt.Errorf("preserve %s as %s: %w", src, dst, err)
			}
			syncDir(filepath.Dir(dst))
			return nil
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("preserve %s as %s: %w", src, dst, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("preserve %s as %s: %w", src, dst, err)
	}
	return Write(dst, fi.Mode().Perm(), func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// syncDir makes renames in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
