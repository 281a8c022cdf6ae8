// Package fileerr words the failure to open an input file in dmrnet's error format,
// "PATH: <why> (<hint>)", instead of the operating system's "open PATH: no such file or
// directory".
package fileerr

import (
	"errors"
	"fmt"
	"io/fs"
)

// Open returns err, the error of opening the file path, as "PATH: no such file (check the
// path)", "PATH: permission denied (check the file's permissions)" or "PATH: <cause>". The
// result wraps err's cause, so errors.Is(result, fs.ErrNotExist) still holds. A nil err
// gives nil.
func Open(path string, err error) error {
	if err == nil {
		return nil
	}
	cause := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w (check the path)", path, noSuchFile{cause})
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: %w (check the file's permissions)", path, cause)
	}
	return fmt.Errorf("%s: %w", path, cause)
}

// noSuchFile words a missing file as "no such file" (not "no such file or directory").
type noSuchFile struct{ err error }

func (e noSuchFile) Error() string { return "no such file" }
func (e noSuchFile) Unwrap() error { return e.err }
