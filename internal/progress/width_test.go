package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestFitsWidth: at terminal widths 40, 80 and 200 every redraw, padding included, stays
// within width-1 columns (never wraps), the bar graphic is the first thing left out, and
// 1000 steps over 2 seconds redraw at most ~10 times a second.
func TestFitsWidth(t *testing.T) {
	for _, width := range []int{40, 80, 200} {
		var buf bytes.Buffer
		clock := newClock()
		b := New(&buf, 1000, "train", true, WithClock(clock.now), WithWidth(func() int { return width }))
		for i := range 1000 {
			b.SetSuffix("epoch 3 loss 0.1234 val 0.8765")
			b.Add(1)
			clock.advance(2 * time.Millisecond)
			if i == 500 {
				b.Println("epoch   3/10  loss 0.1234")
			}
		}
		out := buf.String()
		draws := strings.Count(out, "\r") - 2 // Println clears the line and returns once
		if draws > 2*10+2 {
			t.Errorf("width %d: %d redraws in 2 s, want at most ~10 a second", width, draws)
		}
		for _, seg := range strings.Split(out, "\r") {
			for _, l := range strings.Split(seg, "\n") {
				if n := utf8.RuneCountInString(l); n > width-1 {
					t.Errorf("width %d: a line of %d columns: %q", width, n, l)
				}
			}
		}
		last := lastLine(out)
		if !strings.HasPrefix(last, "train ") {
			t.Errorf("width %d: last line %q", width, last)
		}
		switch width {
		case 200:
			if !strings.Contains(last, "[====================]") || !strings.HasSuffix(last, "val 0.8765") {
				t.Errorf("width 200: the whole line should fit: %q", last)
			}
		case 40:
			if strings.Contains(last, "[") || !strings.HasSuffix(last, "…") || !strings.Contains(last, "1000/1000") {
				t.Errorf("width 40: want no graphic, the count, and a cut: %q", last)
			}
		}
	}
}

// TestNarrowedTerminal: when the terminal narrows between two redraws, the padding that
// blanks the rest of the longer earlier line does not wrap either, nor does Finish's clearing.
func TestNarrowedTerminal(t *testing.T) {
	var buf bytes.Buffer
	clock := newClock()
	width := 200
	b := New(&buf, 100, "train", true, WithClock(clock.now), WithWidth(func() int { return width }))
	b.SetSuffix(strings.Repeat("x", 100))
	b.Add(1)
	width = 40
	clock.advance(time.Second)
	b.Add(1)
	b.Finish()
	segs := strings.Split(buf.String(), "\r")
	for _, seg := range segs[2:] {
		if n := utf8.RuneCountInString(seg); n > 39 {
			t.Errorf("after narrowing to 40 columns: %d columns written: %q", n, seg)
		}
	}
}
