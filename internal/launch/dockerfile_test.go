package launch

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository's root, relative to this package.
const repoRoot = "../.."

// dockerfile is the parsed Dockerfile: its instructions, with continuation lines joined.
type dockerfile [][2]string

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	var cont string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if cont == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cont += l + " "
			continue
		}
		line, cont = cont+line, ""
		op, arg, _ := strings.Cut(line, " ")
		d = append(d, [2]string{strings.ToUpper(op), strings.TrimSpace(arg)})
	}
	return d
}

// TestDockerfile checks the Dockerfile's build stage (a static, trimmed go build) and its
// final stage: an empty or distroless base, the binary as the entry point, a non-root user.
func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	var build string
	last := -1
	for i, in := range d {
		if in[0] == "RUN" && strings.Contains(in[1], "go build") {
			build = in[1]
		}
		if in[0] == "FROM" {
			last = i
		}
	}
	if build == "" || !strings.Contains(build, "-o /out/dmrnet ") {
		t.Fatalf("no RUN ... go build ... -o /out/dmrnet in the Dockerfile")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(build, want) {
			t.Errorf("build command %q lacks %s", build, want)
		}
	}
	final := map[string]string{}
	for _, in := range d[last:] {
		final[in[0]] = in[1]
	}
	if base := final["FROM"]; base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %q; want scratch or distroless static", base)
	}
	if u := final["USER"]; u == "" || u == "root" || strings.HasPrefix(u, "0") {
		t.Errorf("final stage USER %q; want a non-root user", u)
	}
	if final["ENTRYPOINT"] != `["dmrnet"]` || final["WORKDIR"] == "" || final["COPY"] != "--from=build /out/dmrnet /usr/local/bin/dmrnet" {
		t.Errorf("final stage %q; want the binary in /usr/local/bin as the entry point and a WORKDIR", final)
	}

}

// TestStaticBinary checks the binary that scripts/docker-test.sh built with the Dockerfile's
// own go build line (it names it in DMRNET_STATIC_BINARY): static, so that it runs on the
// empty base of the final stage, and runnable. Building it here as well would compile every
// dependency a second time with the Dockerfile's flags (minutes on a 2-core machine), so the
// script, which .ci/run runs, does the build and calls this test.
func TestStaticBinary(t *testing.T) {
	bin := os.Getenv("DMRNET_STATIC_BINARY")
	if bin == "" {
		t.Skip("DMRNET_STATIC_BINARY not set: scripts/docker-test.sh (run by .ci/run) builds the binary and runs this test")
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %s program header: it is not static", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q (%v)", libs, err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dmrnet") {
		t.Errorf("dmrnet version: %v\n%s", err, out)
	}
}
