// Package texttable writes plain-text tables for terminals: a header, rows, columns after
// the first right-justified so that decimal points line up, and dashed rules before chosen
// rows. Trailing spaces are trimmed from every line.
package texttable

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// Write writes header and rows to w, with a rule of dashes before every row i for which
// ruleBefore(i) is true (ruleBefore may be nil).
func Write(w io.Writer, header []string, rows [][]string, ruleBefore func(i int) bool) error {
	width := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], utf8.RuneCountInString(c))
			}
		}
	}
	just := func(r []string) string {
		out := make([]string, len(r))
		for i, c := range r {
			out[i] = c
			if i > 0 && i < len(width) {
				out[i] = strings.Repeat(" ", max(width[i]-utf8.RuneCountInString(c), 0)) + c
			}
		}
		return strings.Join(out, "\t")
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, just(header))
	rule := make([]string, len(header))
	for i := range rule {
		rule[i] = strings.Repeat("-", width[i])
	}
	for i, r := range rows {
		if ruleBefore != nil && ruleBefore(i) {
			fmt.Fprintln(tw, strings.Join(rule, "\t"))
		}
		fmt.Fprintln(tw, just(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out bytes.Buffer
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	_, err := w.Write(out.Bytes())
	return err
}
