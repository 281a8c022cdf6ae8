// Package buildinfo describes the dmrnet binary that is running: its module version, the VCS
// commit it was built from and the Go version, from the build information Go embeds. The
// version command prints it and checkpoints record it as their provenance.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is what Go embeds about the build.
type Info struct {
	// Version is the main module's version: a tag such as v1.2.0, a pseudo-version, or
	// "(devel)" for a build from a work tree.
	Version string `json:"version"`
	// Revision is the VCS commit ("unknown" when the build has none, e.g. go test or a build
	// outside a repository), Time its commit time (RFC 3339, or ""), and Modified whether the
	// work tree had uncommitted changes.
	Revision string `json:"revision"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// GoVersion is the Go toolchain's version, e.g. go1.26.8.
	GoVersion string `json:"go"`
}

// Read returns the running binary's build information.
func Read() Info {
	info := Info{Version: "(devel)", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo extracts Info from Go's build information.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: "(devel)", Revision: "unknown", GoVersion: runtime.Version()}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// Commit is the short commit: the first 12 characters of Revision, with "+dirty" when the
// work tree had uncommitted changes.
func (i Info) Commit() string {
	c := i.Revision
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "+dirty"
	}
	return c
}

// String is the one-line description `dmrnet version` prints, e.g.
// "dmrnet v1.2.0 (commit 0123456789ab+dirty, 2025-01-02T03:04:05Z, go1.26.8)".
func (i Info) String() string {
	s := fmt.Sprintf("dmrnet %s (commit %s", i.Version, i.Commit())
	if i.Time != "" {
		s += ", " + i.Time
	}
	return s + ", " + i.GoVersion + ")"
}
