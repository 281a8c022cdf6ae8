package launch

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		in          string
		mib         int64
		slurm, k8s  string
		errContains string
	}{
		{"4G", 4096, "4G", "4Gi", ""},
		{"4g", 4096, "4G", "4Gi", ""},
		{"4GiB", 4096, "4G", "4Gi", ""},
		{"4Gi", 4096, "4G", "4Gi", ""},
		{"256mi", 256, "256M", "256Mi", ""},
		{"1536M", 1536, "1536M", "1536Mi", ""},
		{"512", 512, "512M", "512Mi", ""},
		{"2048MB", 2048, "2G", "2Gi", ""},
		{"1T", 1 << 20, "1T", "1Ti", ""},
		{"", 0, "", "", "positive whole size"},
		{"0G", 0, "", "", "positive whole size"},
		{"-1G", 0, "", "", "positive whole size"},
		{"1.5G", 0, "", "", "positive whole size"},
		{"4X", 0, "", "", "positive whole size"},
		{"G", 0, "", "", "positive whole size"},
		{"4iG", 0, "", "", "positive whole size"},
		{"99999999999T", 0, "", "", "positive whole size"},
	} {
		m, err := ParseMemory(tc.in)
		if tc.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Errorf("ParseMemory(%q) = %v, %v; want an error", tc.in, m, err)
			}
			continue
		}
		if err != nil || m.MiB != tc.mib || m.slurm() != tc.slurm || m.kubernetes() != tc.k8s {
			t.Errorf("ParseMemory(%q) = %d MiB (%s, %s), %v; want %d (%s, %s)", tc.in, m.MiB, m.slurm(), m.kubernetes(), err, tc.mib, tc.slurm, tc.k8s)
		}
	}
}

func TestSlurmTime(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "0-00:00:01"},
		{1500 * time.Millisecond, "0-00:00:02"},
		{4 * time.Hour, "0-04:00:00"},
		{49*time.Hour + 61*time.Minute, "2-02:01:00"},
	} {
		if got := slurmTime(tc.d); got != tc.want {
			t.Errorf("slurmTime(%s) = %s; want %s", tc.d, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"configs/quickstart.yaml", "dmrnet-quickstart"},
		{"configs/AV_MNIST.v2.yaml", "dmrnet-av-mnist-v2"},
		{`C:\cfg\mfeat.yml`, "dmrnet-mfeat"},
		{"__.yaml", "dmrnet"},
		{"a-very-long-configuration-file-name-indeed-yes.yaml", "dmrnet-a-very-long-configuration-file-na"},
	} {
		got := DefaultName(tc.cfg)
		if got != tc.want {
			t.Errorf("DefaultName(%q) = %q; want %q", tc.cfg, got, tc.want)
		}
		if err := CheckName(got); err != nil {
			t.Errorf("DefaultName(%q) = %q: %v", tc.cfg, got, err)
		}
	}
	for _, bad := range []string{"", "Sweep", "-a", "a-", "a_b", "a.b", strings.Repeat("a", MaxName+1)} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q): no error", bad)
		}
	}
}

// TestShellQuote checks that sh reads quoted words back unchanged.
func TestShellQuote(t *testing.T) {
	words := []string{"plain", "", "a b", "it's", `"$HOME"`, "`id`", "x;y", "a\nb", "*", "--set=k=[1, 2]", "%A_%a"}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	script := "set -- " + shellJoin(words) + "\nfor a; do printf '%s\\0' \"$a\"; done"
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", script, err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, words) {
		t.Errorf("sh read\n%q\nwant\n%q", got, words)
	}
}
