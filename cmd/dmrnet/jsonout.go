package main

import (
	"encoding/json"
	"io"
)

// checkFormat refuses a --format value not in valid, naming the valid ones.
func checkFormat(format string, valid []string) error {
	if !validFormat(format, valid) {
		return usagef("--format=%s: not supported (want %s)", format, joinOr(valid))
	}
	return nil
}

// printJSON writes v to w as indented JSON followed by a newline: what --format json prints.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
