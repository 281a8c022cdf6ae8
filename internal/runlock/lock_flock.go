//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package runlock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Supported reports whether Acquire really excludes other writers on this system.
const Supported = true

// removeOnRelease: an flock holder may unlink the lock file before unlocking it (see
// Acquire's retry).
const removeOnRelease = true

// lockFile takes an exclusive flock on f without waiting; false means another open file
// description holds it.
func lockFile(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		}
		return false, err
	}
}

// unlockFile drops the lock on f.
func unlockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
