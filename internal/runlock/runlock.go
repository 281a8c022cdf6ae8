// Package runlock gives one process at a time the right to write a run directory.
//
// A writer (train, train --resume, every specialist and every sweep job) takes an exclusive
// advisory lock on the file .lock in its run directory before it reads or changes anything
// there, and holds it until it has written its last file. The file records the holder: its
// process id, host and command, so that a second writer can say who is in the way:
//
//	runs/x: run directory is in use by dmrnet pid 1234 (train) (wait for it to finish, or use another --out)
//
// On Linux, macOS and the BSDs the lock is flock(2): it belongs to the open file description,
// so two Acquire calls in one process exclude each other too, and the kernel drops it when
// the holder exits in any way, SIGKILL and crashes included, so a lock never goes stale. On
// Windows it is LockFileEx on a byte range far beyond the file's content (which stays
// readable). On other systems Acquire locks nothing (see Supported).
//
// Readers (eval, sweep-missing, predict, aggregate) take no lock: every file of a run
// directory is replaced atomically (package atomicfile), and each reader either reads one
// self-contained file (a checkpoint holds its own configuration and standardisation) or
// checks that the files it combines belong together.
package runlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileName is the lock file inside a run directory.
const FileName = ".lock"

// ErrBusy is matched (errors.Is) by the error Acquire returns when another writer holds the
// lock; the error itself is a *BusyError naming the holder.
var ErrBusy = errors.New("run directory is in use")

// Holder describes the process that holds a run directory's lock, as recorded in the lock
// file.
type Holder struct {
	// PID is the holder's process id (0 when the record could not be read).
	PID int `json:"pid"`
	// Host is the name of the holder's machine (run directories may be on a shared file
	// system).
	Host string `json:"host,omitempty"`
	// Command is what the holder is doing: "train", "train --resume", "specialists" or
	// "sweep".
	Command string `json:"command,omitempty"`
	// Since is when the holder took the lock.
	Since time.Time `json:"since"`
}

// BusyError is the error of Acquire for a run directory another writer holds.
type BusyError struct {
	// Dir is the run directory.
	Dir string
	// Holder is the holder's record; its PID is 0 when the record could not be read (the
	// holder is just writing it).
	Holder Holder
}

// Error returns "DIR: run directory is in use by dmrnet pid N (COMMAND) (hint)".
func (e *BusyError) Error() string {
	who := "another dmrnet process"
	if e.Holder.PID > 0 {
		who = fmt.Sprintf("dmrnet pid %d", e.Holder.PID)
		if host := hostname(); e.Holder.Host != "" && e.Holder.Host != host {
			who += " on " + e.Holder.Host
		}
	}
	if e.Holder.Command != "" {
		who += " (" + e.Holder.Command + ")"
	}
	return fmt.Sprintf("%s: run directory is in use by %s (wait for it to finish, or use another --out)", e.Dir, who)
}

// Is reports whether target is ErrBusy.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Lock is a held run-directory lock; Release gives it back.
type Lock struct {
	dir     string
	f       *os.File
	created bool
}

// Acquire takes the exclusive lock of the run directory dir for command, creating dir if it
// does not exist. It does not wait: when another writer holds the lock it returns a
// *BusyError (errors.Is(err, ErrBusy)) naming the holder.
func Acquire(dir, command string) (*Lock, error) {
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	path := filepath.Join(dir, FileName)
	// A holder removes the lock file when it releases the lock (and the directory, when it
	// created it and left it empty); if that happens between our steps, we would hold a
	// lock on a file nobody else sees, so we start over.
	for range 100 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("%s: cannot create the run directory: %w (check the path and its permissions)", dir, unwrapPath(err))
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: cannot open the lock file: %w (check the directory's permissions)", path, unwrapPath(err))
		}
		ok, err := lockFile(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: cannot lock the run directory: %w (the file system may not support locks: use a local directory)", dir, err)
		}
		if !ok {
			h, _ := readHolder(f)
			f.Close()
			return nil, &BusyError{Dir: dir, Holder: h}
		}
		if !samePath(f, path) {
			unlockFile(f)
			f.Close()
			continue
		}
		l := &Lock{dir: dir, f: f, created: created}
		if err := l.record(command); err != nil {
			l.Release()
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("%s: cannot lock the run directory: its lock file keeps being replaced (stop the other dmrnet processes writing it)", dir)
}

// record writes the holder's description into the lock file.
func (l *Lock) record(command string) error {
	h := Holder{PID: os.Getpid(), Host: hostname(), Command: command, Since: time.Now().UTC().Truncate(time.Second)}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("%s: cannot write the lock file: %w", l.f.Name(), err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("%s: cannot write the lock file: %w", l.f.Name(), err)
	}
	return nil
}

// Dir returns the locked run directory.
func (l *Lock) Dir() string { return l.dir }

// Release gives the lock back and removes the lock file (where the system allows that
// safely). A run directory that Acquire created and that is empty again is removed too, so a
// command that failed before writing anything leaves nothing behind. Release is idempotent.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	var errs []error
	if removeOnRelease {
		// Remove while still holding the lock: whoever opened the old file and locks it
		// after us sees that it is no longer the lock file and starts over.
		if err := os.Remove(l.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	} else if err := l.f.Truncate(0); err != nil {
		errs = append(errs, err)
	}
	if err := unlockFile(l.f); err != nil {
		errs = append(errs, err)
	}
	if err := l.f.Close(); err != nil {
		errs = append(errs, err)
	}
	l.f = nil
	if l.created {
		os.Remove(l.dir) // fails, as it should, unless the directory is empty
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: release the run directory's lock: %w", l.dir, err)
	}
	return nil
}

// Read returns the record of the process holding dir's lock, and false when no process
// holds it.
func Read(dir string) (Holder, bool, error) {
	f, err := os.Open(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return Holder{}, false, nil
	}
	if err != nil {
		return Holder{}, false, err
	}
	defer f.Close()
	if !Supported {
		h, err := readHolder(f)
		return h, err == nil && h.PID > 0, nil
	}
	ok, err := lockFile(f)
	if err != nil {
		return Holder{}, false, err
	}
	if ok {
		unlockFile(f)
		return Holder{}, false, nil
	}
	h, err := readHolder(f)
	return h, true, err
}

// readHolder reads the holder's record from the lock file f.
func readHolder(f *os.File) (Holder, error) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<16))
	if err != nil {
		return Holder{}, err
	}
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil {
		return Holder{}, err
	}
	return h, nil
}

// samePath reports whether the open file f is still the file at path.
func samePath(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(fi, pi)
}

// hostname is the short name of this machine, or "".
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(h)
}

// unwrapPath returns the cause of a *fs.PathError (whose path the message already names).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
