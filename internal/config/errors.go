package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error that Load, Validate and CheckModalities return, so that
// callers can tell a bad configuration (errors.Is(err, ErrInvalid)) from other failures.
var ErrInvalid = errors.New("invalid configuration")

// Error is one problem of a configuration. Its message is a single line that starts with where
// the problem is (a file and line, an environment variable or a --set argument, and the key),
// then states the problem and how to fix it. It wraps ErrInvalid and, when there is one, the
// underlying cause.
type Error struct {
	// Source is where the offending value came from: a file path, the name of an environment
	// variable or "--set key=value"; empty for problems found by Validate.
	Source string
	// Line is the 1-based line of Source holding the value, or 0 when not known.
	Line int
	// Key is the dotted key concerned, or "" when the problem is not about one key.
	Key string
	// Msg states the problem and the fix; it names the key when there is one.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns the one-line message "source:line: msg".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return oneLine(b.String())
}

// Unwrap returns ErrInvalid and the underlying cause, if any.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// invalid returns the error "key: problem" about one key.
func invalid(key, format string, args ...any) *Error {
	return &Error{Key: key, Msg: key + ": " + fmt.Sprintf(format, args...)}
}

// from sets the source (and line, when keepLine) of err if it is an *Error without one.
func from(err error, source string, keepLine bool) error {
	var e *Error
	if errors.As(err, &e) && e.Source == "" {
		e.Source = source
		if !keepLine {
			e.Line = 0
		}
	}
	return err
}

// oneLine joins the non-blank lines of s with "; ".
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// quoteList formats names as `"a", "b", "c"`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// oneOf is the error of a string key whose value is not one of valid.
func oneOf(key, got string, valid ...string) *Error {
	return invalid(key, "%q is not supported (use one of %s)", got, quoteList(valid))
}

// suggest returns the candidate closest to key by edit distance when it is close enough, or
// else the only candidate with the same last dotted segment, or "".
func suggest(key string, candidates []string) string {
	lk := strings.ToLower(key)
	best, bestD := "", -1
	for _, c := range candidates {
		if c == key {
			continue
		}
		if d := EditDistance(lk, strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD >= 0 && bestD <= max(2, len(key)/4) {
		return best
	}
	last := lk[strings.LastIndexByte(lk, '.')+1:]
	match := ""
	for _, c := range candidates {
		if c != key && c[strings.LastIndexByte(c, '.')+1:] == last {
			if match != "" {
				return ""
			}
			match = c
		}
	}
	return match
}

// EditDistance is the Levenshtein distance between a and b: the number of rune insertions,
// deletions and substitutions that turn one into the other. Key suggestions use it.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
