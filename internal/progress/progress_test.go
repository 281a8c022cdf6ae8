package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }

// lastLine returns the text of the last redraw in out.
func lastLine(out string) string {
	i := strings.LastIndex(out, "\r")
	return strings.TrimRight(out[i+1:], " ")
}

func TestBarLine(t *testing.T) {
	type step struct {
		advance time.Duration
		add     int
	}
	tests := []struct {
		name   string
		total  int
		label  string
		suffix string
		steps  []step
		want   string
	}{
		{
			// 25 done in 10s: mean rate 2.5/s, 75 left: ETA 30s.
			name: "eta from mean rate", total: 100, label: "train",
			steps: []step{{10 * time.Second, 25}},
			want:  "train [=====               ] 25/100  25% 00:10 ETA 00:30",
		},
		{
			name: "suffix", total: 10, label: "epoch 3", suffix: "loss 0.53",
			steps: []step{{time.Second, 1}, {time.Second, 4}},
			want:  "epoch 3 [==========          ] 5/10  50% 00:02 ETA 00:02 loss 0.53",
		},
		{
			name: "complete", total: 4, label: "eval",
			steps: []step{{time.Second, 2}, {time.Second, 2}},
			want:  "eval [====================] 4/4 100% 00:02 ETA 00:00",
		},
		{
			name: "overshoot is clamped", total: 4,
			steps: []step{{time.Second, 6}},
			want:  "[====================] 6/4 100% 00:01 ETA 00:00",
		},
		{
			name: "zero count has no ETA", total: 4,
			steps: []step{{time.Second, 0}},
			want:  "[                    ] 0/4   0% 00:01 ETA --:--",
		},
		{
			name: "unknown total", total: 0, label: "load",
			steps: []step{{90 * time.Second, 7}},
			want:  "load 7 01:30",
		},
		{
			name: "hours", total: 2, label: "x",
			steps: []step{{time.Hour + 2*time.Minute + 3*time.Second, 1}},
			want:  "x [==========          ] 1/2  50% 1:02:03 ETA 1:02:03",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			var buf bytes.Buffer
			b := New(&buf, tt.total, tt.label, true, WithClock(clk.now))
			b.SetSuffix(tt.suffix)
			for _, s := range tt.steps {
				clk.advance(s.advance)
				b.Add(s.add)
			}
			out := buf.String()
			if !strings.HasPrefix(out, "\r") {
				t.Errorf("output %q does not start with a carriage return", out)
			}
			if strings.Contains(out, "\n") {
				t.Errorf("output %q contains a newline", out)
			}
			if got := lastLine(out); got != tt.want {
				t.Errorf("line = %q\n          want %q", got, tt.want)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	type step struct {
		advance time.Duration
		add     int
	}
	tests := []struct {
		name     string
		total    int
		interval time.Duration
		steps    []step
		draws    int
	}{
		{
			name: "first add always draws", total: 100,
			steps: []step{{0, 1}},
			draws: 1,
		},
		{
			name: "fast adds are dropped", total: 100,
			steps: []step{{0, 1}, {10 * time.Millisecond, 1}, {10 * time.Millisecond, 1}, {10 * time.Millisecond, 1}},
			draws: 1,
		},
		{
			name: "redraw after the interval", total: 100,
			steps: []step{{0, 1}, {50 * time.Millisecond, 1}, {50 * time.Millisecond, 1}, {99 * time.Millisecond, 1}, {time.Millisecond, 1}},
			draws: 3,
		},
		{
			name: "reaching the total always draws", total: 3,
			steps: []step{{0, 1}, {time.Millisecond, 1}, {time.Millisecond, 1}},
			draws: 2,
		},
		{
			name: "at most ten per second", total: 10000,
			steps: func() []step {
				s := make([]step, 1000) // one add per millisecond for a second
				for i := range s {
					s[i] = step{time.Millisecond, 1}
				}
				return s
			}(),
			draws: 10,
		},
		{
			name: "custom interval", total: 100, interval: time.Second,
			steps: []step{{0, 1}, {500 * time.Millisecond, 1}, {500 * time.Millisecond, 1}},
			draws: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			var buf bytes.Buffer
			opts := []Option{WithClock(clk.now)}
			if tt.interval > 0 {
				opts = append(opts, WithInterval(tt.interval))
			}
			b := New(&buf, tt.total, "x", true, opts...)
			for _, s := range tt.steps {
				clk.advance(s.advance)
				b.Add(s.add)
			}
			if got := strings.Count(buf.String(), "\r"); got != tt.draws {
				t.Errorf("%d redraws, want %d", got, tt.draws)
			}
		})
	}
}

func TestSetSuffixDoesNotDraw(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, 10, "x", true, WithClock(clk.now))
	b.SetSuffix("loss 1.00")
	if buf.Len() != 0 {
		t.Fatalf("SetSuffix before Add wrote %q", buf.String())
	}
	b.Add(1)
	b.SetSuffix("loss 0.53")
	clk.advance(time.Second)
	b.Add(1)
	if got := lastLine(buf.String()); !strings.HasSuffix(got, "loss 0.53") {
		t.Errorf("line %q does not end with the new suffix", got)
	}
}

func TestShorterLineIsPadded(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, 10, "x", true, WithClock(clk.now))
	b.SetSuffix("a long suffix")
	b.Add(1)
	first := buf.Len()
	b.SetSuffix("")
	clk.advance(time.Second)
	b.Add(1)
	if got := buf.Len() - first; got != first {
		t.Errorf("second redraw is %d bytes, want %d to cover the first", got, first)
	}
}

func TestFinish(t *testing.T) {
	clk := newClock()
	var buf bytes.Buffer
	b := New(&buf, 10, "x", true, WithClock(clk.now))
	b.Add(5)
	line := buf.String()
	b.Finish()
	want := line + "\r" + strings.Repeat(" ", len(line)-1) + "\r"
	if got := buf.String(); got != want {
		t.Errorf("after Finish output = %q, want %q", got, want)
	}
	n := buf.Len()
	clk.advance(time.Second)
	b.Add(1)
	b.Finish()
	if buf.Len() != n {
		t.Errorf("calls after Finish wrote %q", buf.String()[n:])
	}

	// Finish without any redraw writes nothing.
	buf.Reset()
	New(&buf, 10, "x", true, WithClock(clk.now)).Finish()
	if buf.Len() != 0 {
		t.Errorf("Finish of an undrawn bar wrote %q", buf.String())
	}
}

func TestDisabled(t *testing.T) {
	tests := []struct {
		name string
		bar  func(*bytes.Buffer) *Bar
	}{
		{"disabled", func(w *bytes.Buffer) *Bar { return New(w, 10, "x", false) }},
		{"nil", func(*bytes.Buffer) *Bar { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			b := tt.bar(&buf)
			b.Add(1)
			b.SetSuffix("loss 0.5")
			b.Add(9)
			b.Finish()
			if buf.Len() != 0 {
				t.Errorf("disabled bar wrote %q", buf.String())
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00"},
		{499 * time.Millisecond, "00:00"},
		{500 * time.Millisecond, "00:01"},
		{65 * time.Second, "01:05"},
		{59*time.Minute + 59*time.Second, "59:59"},
		{time.Hour, "1:00:00"},
		{25*time.Hour + time.Second, "25:00:01"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name string
		f    *os.File
	}{
		{"regular file", f},
		{"nil", nil},
	}
	for _, tt := range tests {
		if IsTerminal(tt.f) {
			t.Errorf("IsTerminal(%s) = true, want false", tt.name)
		}
	}
}

func TestConcurrentAdd(t *testing.T) {
	clk := newClock() // never advances, so only the first and last Add draw
	var buf bytes.Buffer
	b := New(&buf, 400, "x", true, WithClock(clk.now))
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				b.Add(1)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := lastLine(buf.String()); !strings.Contains(got, " 400/400 ") {
		t.Errorf("final line %q does not show 400/400", got)
	}
}

func TestPrintlnAboveBar(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	b := New(&buf, 10, "train", true, WithClock(func() time.Time { return now }))
	b.Add(1)
	b.Println("epoch 1 done")
	out := buf.String()
	i := strings.Index(out, "epoch 1 done\n")
	if i < 0 {
		t.Fatalf("line missing in %q", out)
	}
	if !strings.Contains(out[i:], "1/10") {
		t.Fatalf("bar not redrawn after the line: %q", out)
	}
	var quiet bytes.Buffer
	New(&quiet, 10, "x", false).Println("hidden")
	if quiet.Len() != 0 {
		t.Fatal("disabled bar printed")
	}
}
