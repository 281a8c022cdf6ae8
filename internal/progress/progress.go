// Package progress provides a single-line progress bar for long loops,
// meant to be written to a terminal's standard error.
//
// The bar is a small implementation of its own rather than a wrapper of
// a library such as github.com/schollz/progressbar/v3: that library
// reads the wall clock internally, so its throttling and ETA cannot be
// tested deterministically, and it brings several dependencies for
// features (themes, colours, spinners, byte counts) this tool does not
// need. Here the clock and the terminal width are injected with
// WithClock and WithWidth, and the only dependency is golang.org/x/term
// for IsTerminal and GetSize.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// DefaultInterval is the default minimum time between two redraws.
const DefaultInterval = 100 * time.Millisecond

// barWidth is the number of cells of the bar itself.
const barWidth = 20

// IsTerminal reports whether f is a terminal, so that callers can enable
// a Bar only when its output is interactive.
func IsTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// Option configures a Bar.
type Option func(*Bar)

// WithClock makes the Bar read the current time from now instead of
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(b *Bar) { b.now = now }
}

// WithWidth makes the Bar read the terminal's width in columns from width before every
// redraw, instead of asking the terminal (golang.org/x/term GetSize) when the output is one.
// A width of zero or less means unknown: the line is not shortened.
func WithWidth(width func() int) Option {
	return func(b *Bar) { b.width = width }
}

// terminalWidth returns the width function of w: its terminal's columns when w is a terminal,
// else nil (lines are not shortened).
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	if !ok || !IsTerminal(f) {
		return nil
	}
	return func() int {
		cols, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0
		}
		return cols
	}
}

// WithInterval sets the minimum time between two redraws; the default
// is DefaultInterval.
func WithInterval(d time.Duration) Option {
	return func(b *Bar) { b.interval = d }
}

// Bar is a progress bar that redraws a single line, starting with '\r',
// showing the label, a bar, count/total, the percentage, the elapsed
// time, the estimated time remaining and a free-form suffix. The ETA is
// estimated from the mean rate since the Bar was created. Redraws are
// throttled to one per interval, except that reaching the total always
// redraws. A line never wraps: it is kept one column narrower than the
// terminal (WithWidth), leaving out the bar graphic first and then
// cutting the line with "…".
//
// A disabled Bar, and a nil *Bar, do nothing. Errors writing the output
// are ignored. A Bar is safe for concurrent use.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	total    int
	label    string
	suffix   string
	enabled  bool
	now      func() time.Time
	interval time.Duration
	width    func() int // nil or <= 0: unknown

	count    int
	start    time.Time
	last     time.Time // time of the last redraw
	drawn    bool      // whether anything is on the line
	lastLen  int       // length in runes of the last line drawn
	finished bool
}

// New returns a Bar that writes to w and counts up to total; a total
// of zero or less means the total is unknown, and only the count and the
// elapsed time are shown. If enabled is false, the Bar writes nothing.
func New(w io.Writer, total int, label string, enabled bool, opts ...Option) *Bar {
	b := &Bar{w: w, total: total, label: label, enabled: enabled, now: time.Now, interval: DefaultInterval}
	for _, o := range opts {
		o(b)
	}
	if b.width == nil && enabled {
		b.width = terminalWidth(w)
	}
	b.start = b.now()
	return b
}

// Add advances the count by n and redraws the line unless the last
// redraw was less than the interval ago.
func (b *Bar) Add(n int) {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.count += n
	now := b.now()
	if b.drawn && now.Sub(b.last) < b.interval && (b.total <= 0 || b.count < b.total) {
		return
	}
	b.draw(now)
}

// SetSuffix sets the text shown at the end of the line, such as
// "loss 0.53". It is shown from the next redraw on.
func (b *Bar) SetSuffix(s string) {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	b.suffix = s
	b.mu.Unlock()
}

// Finish clears the line. Later calls to Add do nothing.
func (b *Bar) Finish() {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if b.drawn {
		b.clear()
	}
}

// Println writes a line of text above the bar: the bar's line is cleared, s is printed with a
// newline, and the bar is drawn again below it. A disabled Bar prints nothing.
func (b *Bar) Println(s string) {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		b.clear()
		b.lastLen = 0
	}
	fmt.Fprintln(b.w, s)
	if !b.finished {
		b.draw(b.now())
	}
}

// draw writes the current line; b.mu must be held.
func (b *Bar) draw(now time.Time) {
	elapsed := max(now.Sub(b.start), 0)
	var parts []string
	if b.label != "" {
		parts = append(parts, b.label)
	}
	graphic := -1 // index of the bar graphic in parts
	if b.total > 0 {
		graphic = len(parts)
		frac := min(float64(b.count)/float64(b.total), 1)
		filled := int(frac * barWidth)
		eta := "--:--"
		if b.count > 0 {
			remaining := max(b.total-b.count, 0)
			eta = formatDuration(time.Duration(float64(elapsed) * float64(remaining) / float64(b.count)))
		}
		parts = append(parts,
			"["+strings.Repeat("=", filled)+strings.Repeat(" ", barWidth-filled)+"]",
			fmt.Sprintf("%d/%d", b.count, b.total),
			fmt.Sprintf("%3.0f%%", 100*frac),
			formatDuration(elapsed),
			"ETA "+eta)
	} else {
		parts = append(parts, fmt.Sprint(b.count), formatDuration(elapsed))
	}
	if b.suffix != "" {
		parts = append(parts, b.suffix)
	}
	line := b.fit(parts, graphic)
	n := utf8.RuneCountInString(line)
	pad := max(b.lastLen-n, 0)
	if limit := b.limit(); limit > 0 {
		pad = min(pad, limit-n) // the terminal may have narrowed since the last line
	}
	fmt.Fprint(b.w, "\r"+line+strings.Repeat(" ", pad))
	b.lastLen = n
	b.last = now
	b.drawn = true
}

// clear blanks the bar's line and returns to its start; b.mu must be held.
func (b *Bar) clear() {
	n := b.lastLen
	if limit := b.limit(); limit > 0 {
		n = min(n, limit)
	}
	fmt.Fprint(b.w, "\r"+strings.Repeat(" ", n)+"\r")
}

// limit is the longest line that fits the terminal without wrapping: one column less than
// its width, as a character in the last column makes some terminals wrap; 0 when unknown.
func (b *Bar) limit() int {
	if b.width == nil {
		return 0
	}
	w := b.width()
	if w <= 1 {
		return 0
	}
	return w - 1
}

// fit joins parts with spaces into a line that fits the terminal: it first leaves out the
// bar graphic ("[=====     ]"), the part that says least in the fewest columns, and then cuts
// the line, ending it with "…".
func (b *Bar) fit(parts []string, graphic int) string {
	line := strings.Join(parts, " ")
	limit := b.limit()
	if limit <= 0 || utf8.RuneCountInString(line) <= limit {
		return line
	}
	var kept []string
	for i, p := range parts {
		if i != graphic {
			kept = append(kept, p)
		}
	}
	line = strings.Join(kept, " ")
	if utf8.RuneCountInString(line) <= limit {
		return line
	}
	r := []rune(line)
	return string(r[:limit-1]) + "…"
}

// formatDuration formats d, rounded to seconds, as mm:ss or h:mm:ss.
func formatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 3600 {
		return fmt.Sprintf("%02d:%02d", s/60, s%60)
	}
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
