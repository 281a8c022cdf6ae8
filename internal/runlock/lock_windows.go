//go:build windows

package runlock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// Supported reports whether Acquire really excludes other writers on this system.
const Supported = true

// removeOnRelease: Windows cannot safely remove a file another process may have open, so the
// lock file stays (emptied) after Release.
const removeOnRelease = false

// lockRange places the locked byte far beyond the file's content: Windows locks are
// mandatory for the locked range, and the holder's record must stay readable.
func lockRange() *windows.Overlapped { return &windows.Overlapped{OffsetHigh: 0x7fffffff} }

// lockFile takes an exclusive lock on f without waiting; false means another handle holds
// it.
func lockFile(f *os.File) (bool, error) {
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, lockRange())
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return false, nil
	}
	return err == nil, err
}

// unlockFile drops the lock on f.
func unlockFile(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockRange())
}
